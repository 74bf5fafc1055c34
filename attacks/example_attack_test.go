package attacks_test

// A new attack in one file (docs/EXTENDING.md shows this file whole): "line" forges the naive
// spoof every defence should catch. W'0 is KS-valid and rank-matched to the stolen W_T
// (attacks.ForgeInit), the checkpoints lie on the straight line W'0 -> W_T (attacks.Line),
// and each claims the target's own learning rate, written through the shared forged-proof
// writer (Target.CreateForged), so the proof makes the honest run's claims. It registers
// itself in init; from then on a spec's [[attack]] kind = "line" runs it, and its proofs
// appear in results.csv with kind "line".

import (
	"context"
	"fmt"
	"testing"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/experiments"
	"pollab/internal/labtest"
	"pollab/stats"
)

func init() {
	attacks.Register(attacks.Kind{
		Name:        "line",
		Usage:       "checkpoints on the line W'0 -> W_T at the claimed lr",
		Description: "The naive spoof: no gradient at all, honest claims.",
		NewConfig:   func() attacks.Config { return &lineParams{} },
	})
}

// lineParams is its configuration: TOML keys of a spec, flags of `pollab attack line`.
// Unset fields (nil list, unset Opt) take the target's T and k.
type lineParams struct {
	Steps []int            `toml:"steps" json:"steps,omitempty"`
	K     attacks.Opt[int] `toml:"k" json:"k,omitzero"`
}

func (p *lineParams) Flags() []attacks.Flag {
	return []attacks.Flag{
		{Name: "steps", Usage: "T' (default: the target's T)", Value: attacks.Ints(&p.Steps)},
		{Name: "k", Usage: "checkpoint interval (default: the target's k)", Value: &p.K},
	}
}
func (p *lineParams) Validate() error {
	return attacks.AtLeastOne(map[string]attacks.Opt[int]{"k": p.K})
}
func (p *lineParams) Label() string                          { return "line" }
func (p *lineParams) Plan() attacks.Plan                     { return attacks.Plan{Steps: p.Steps, K: p.K.Or(0)} }
func (p *lineParams) Weight(steps, k int) (float64, float64) { return 1, 1 } // no gradient
func (p *lineParams) New(f attacks.Forgery) (attacks.Attack, error) {
	return &lineAttack{f: f}, nil
}

// lineAttack forges one proof.
type lineAttack struct{ f attacks.Forgery }

func (*lineAttack) Name() string { return "line" }

func (a *lineAttack) Forge(ctx context.Context, t *attacks.Target, out string, opt attacks.Options) (*attacks.Result, error) {
	steps := a.f.StepsOr()
	w0, draws, err := attacks.ForgeInit(t.Model, t.Final, a.f.Seed, stats.DefaultInitAlpha)
	if err != nil {
		return nil, fmt.Errorf("line: %w", err)
	}
	forged, err := t.CreateForged(out, attacks.ForgedSpec{Producer: "attack:line", Steps: steps, K: a.f.KOr(), Seed: a.f.Seed})
	if err != nil {
		return nil, fmt.Errorf("line: %w", err)
	}
	defer forged.Close()
	line, w := attacks.NewLine(w0, t.Final), make([]float64, len(w0))
	ckpts := forged.CheckpointSteps()
	for i, step := range ckpts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		line.At(step, steps, w)
		if err := forged.WriteCheckpoint(step, forged.Hyper.LRAt(step), w, nil, t.Buffers); err != nil {
			return nil, fmt.Errorf("line: %w", err)
		}
		opt.Report(i+1, len(ckpts), "line")
	}
	// The model's buffers (BatchNorm running statistics, if any) stay W_T's throughout, as
	// ForgeInit copies W_T's untested tensors. Cost accounting: no gradient; drawing W'0 and
	// one multiply-add per parameter per point.
	cost := autodiff.Cost{Other: attacks.InitFLOPs(t.Model, draws) + 2*float64(len(w0)*len(ckpts))}
	return forged.Finish("line", out, cost, opt, nil)
}

// The test runs the lab's harness on a tiny spec with the new kind: its proofs are forged,
// verified and reported like the built-in attacks', and the verifier rejects them.
func TestLineAttackThroughTheHarness(t *testing.T) {
	// The tests' tiny spec (two seeds; honest proofs at k 2 and 3 of T = 6 steps) with the
	// new attack as its only one, run by experiments.Run; the rows of its results.csv.
	rows := labtest.RunTiny(t, `
name = "line-example"
[[attack]]
kind = "line"
steps = [6]
`)
	var line, honest int
	for _, r := range rows {
		if r.Env != "exact" || r.Q != 0 || r.Audit != 0 || r.Metric() != "l2" || !r.Normalized() ||
			r.DeltaNorm() != stats.ReferenceNormalizedDelta {
			continue
		}
		switch r.Kind {
		case "line":
			line++
			if r.Steps != 6 || r.K != 2 || r.Accepted || r.FailedCheck != "topq" {
				t.Errorf("line proof %s: steps %d, k %d, accepted %v (failed %q); want 6, 2, rejected by topq",
					r.ProofID, r.Steps, r.K, r.Accepted, r.FailedCheck)
			}
		case experiments.KindHonest:
			honest++
			if !r.Accepted {
				t.Errorf("honest proof %s rejected by %s", r.ProofID, r.FailedCheck)
			}
		}
	}
	if line != 2 || honest != 4 {
		t.Fatalf("%d line and %d honest rows at exact, every interval, l2 0.008 of d_ref; want 2 and 4 (per seed, and k)", line, honest)
	}
}
