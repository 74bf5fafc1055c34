package verifier

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Env is a reproduction environment: how the verifier's re-execution differs from the
// prover's run. On one CPU an honest re-execution with pollab's own code is bit-exact, so the
// honest noise that real verifiers face (and that the threshold delta exists to absorb) must
// be modelled explicitly. Every output records the env by its Name.
//
// The components, and the real effect each one stands for:
//
//   - exact: same dtype, same reduction order, same augmentation seeds. What a verifier with
//     the prover's hardware and software stack gets: bit-identical checkpoints, so delta = 0
//     accepts an honest proof.
//   - dtype (FlipDType): re-execute in the other precision (f32 proof in f64, f64 proof in
//     f32). Stands for a verifier on different hardware or with a different math library
//     precision: TF32 or bf16 matmuls versus fp32, fused multiply-add or not, x87 versus SSE.
//   - microbatch:M (Microbatches): split each batch into M micro-batches and combine their
//     mean gradients. Mathematically the same gradient, numerically another summation order:
//     stands for gradient accumulation, data-parallel all-reduce over M devices, or a
//     different BLAS blocking.
//   - augment (OwnAugment): the verifier draws its own augmentation seeds instead of the
//     recorded ones. Stands for the reference implementation, which does not record the
//     random crops and flips, so an honest re-execution sees different inputs (Jia et al.
//     report a tenfold larger reproduction error with augmentation). Has no effect on a run
//     trained without augmentation. A proof that augments without recording its seeds gets
//     it in every env (Gather adds it: exact becomes augment), since nothing else can run.
//   - noise:SIGMA (Noise): every re-executed step's gradient gets Gaussian noise of relative
//     size SIGMA, g += SIGMA·(|g|₂/√n)·z with z ~ N(0,1) (prover.Stepper's Noise, seeded
//     from the manifest hash so a rerun is identical). Stands for GPU kernel
//     non-determinism (atomic adds in cuDNN convolutions' backward pass, non-deterministic
//     scatter/reduction order), whose per-step error is a small relative perturbation.
//
// Components combine with '+', e.g. "dtype+microbatch:4"; String lists them in the order
// above, so ParseEnv(e.String()) == e.
type Env struct {
	Name         string  `json:"name"`
	FlipDType    bool    `json:"flip_dtype,omitempty"`
	Microbatches int     `json:"microbatches,omitempty"` // 0 or 1: whole batches
	OwnAugment   bool    `json:"own_augment,omitempty"`
	Noise        float64 `json:"noise,omitempty"` // relative per-step sigma; 0: none
}

// ParseEnv reads an environment name: exact, dtype, microbatch:M, augment, noise:SIGMA, or a
// '+'-joined combination of the last four.
func ParseEnv(s string) (Env, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "exact" {
		e := Env{}
		e.Name = e.String()
		return e, nil
	}
	var e Env
	seen := map[string]bool{}
	for _, part := range strings.Split(s, "+") {
		key, val, hasVal := strings.Cut(strings.TrimSpace(part), ":")
		if seen[key] {
			return Env{}, fmt.Errorf("env %q: %q given twice", s, key)
		}
		seen[key] = true
		switch key {
		case "dtype":
			if hasVal {
				return Env{}, fmt.Errorf("env %q: dtype takes no value", s)
			}
			e.FlipDType = true
		case "augment":
			if hasVal {
				return Env{}, fmt.Errorf("env %q: augment takes no value", s)
			}
			e.OwnAugment = true
		case "microbatch":
			m, err := strconv.Atoi(val)
			if !hasVal || err != nil || m < 2 || m > 1<<16 {
				return Env{}, fmt.Errorf("env %q: microbatch:M needs an integer M >= 2", s)
			}
			e.Microbatches = m
		case "noise":
			sigma, err := strconv.ParseFloat(val, 64)
			if !hasVal || err != nil || !(sigma > 0) || math.IsInf(sigma, 0) || sigma > 1 {
				return Env{}, fmt.Errorf("env %q: noise:SIGMA needs a relative sigma in (0, 1]", s)
			}
			e.Noise = sigma
		case "exact":
			return Env{}, fmt.Errorf("env %q: exact cannot be combined", s)
		default:
			return Env{}, fmt.Errorf("env %q: unknown component %q (want exact, dtype, microbatch:M, augment, noise:SIGMA)", s, key)
		}
	}
	e.Name = e.String()
	return e, nil
}

// String is the canonical name of the env ("exact" when nothing differs).
func (e Env) String() string {
	var parts []string
	if e.FlipDType {
		parts = append(parts, "dtype")
	}
	if e.Microbatches > 1 {
		parts = append(parts, "microbatch:"+strconv.Itoa(e.Microbatches))
	}
	if e.OwnAugment {
		parts = append(parts, "augment")
	}
	if e.Noise > 0 {
		parts = append(parts, "noise:"+strconv.FormatFloat(e.Noise, 'g', -1, 64))
	}
	if len(parts) == 0 {
		return "exact"
	}
	return strings.Join(parts, "+")
}

// Exact reports whether the env reproduces the prover bit for bit (given recorded seeds).
func (e Env) Exact() bool { return e.String() == "exact" }
