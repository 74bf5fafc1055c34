package zhang

import (
	"errors"
	"fmt"

	"pollab/attacks"
)

func init() {
	attacks.Register(attacks.Kind{
		Name:  "zhang",
		Usage: "Zhang et al.'s gradient-matching spoof: crafted batches whose SGD steps follow the line W'0 -> W_T",
		Description: "W'0 is drawn from the model's init law (KS p >= 0.01) and rank-matched to W_T; checkpoints lie on the\n" +
			"straight line W'0 -> W_T. Every step trains on a crafted batch: a real batch plus a perturbation r\n" +
			"optimised with L-BFGS on |grad_W L(W; clamp(X+r), y) - g*|² + lambda |r|². The forged proof carries\n" +
			"the crafted points in its payload; an honest replay of them is what the verifier re-executes.",
		NewConfig: func() attacks.Config { return &Params{} },
	})
}

// Params configure the attack from a spec's [[attack]] section (kind = "zhang") or from the
// flags of `pollab attack zhang`. Unset fields take Config's defaults.
type Params struct {
	Variant attacks.Opt[string] `toml:"variant" json:"variant,omitzero"` // I, II (unset) or III
	// Steps lists forged lengths T' (one forged proof each; unset: the target's T).
	Steps        []int                `toml:"steps" json:"steps,omitempty"`
	K            attacks.Opt[int]     `toml:"k" json:"k,omitzero"`                         // unset: the target's k
	Iters        attacks.Opt[int]     `toml:"iters" json:"iters,omitzero"`                 // unset: 100 for I, 10 for II and III
	Evals        attacks.Opt[int]     `toml:"evals" json:"evals,omitzero"`                 // unset or 0: Iters
	Lambda       attacks.Opt[float64] `toml:"lambda" json:"lambda,omitzero"`               // unset: 1 for I and II, 0.1 for III
	Retries      attacks.Opt[int]     `toml:"retries" json:"retries,omitzero"`             // unset: 30
	MaxResidual  attacks.Opt[float64] `toml:"max_residual" json:"max_residual,omitzero"`   // unset: 15
	MaxNormR2    attacks.Opt[float64] `toml:"max_r2" json:"max_r2,omitzero"`               // unset: 20
	LargeBatch   attacks.Opt[bool]    `toml:"large_batch" json:"large_batch,omitzero"`     // variant III only
	AttackerData attacks.Opt[string]  `toml:"attacker_data" json:"attacker_data,omitzero"` // full (unset) or half
	SecondOrder  attacks.Opt[string]  `toml:"second_order" json:"second_order,omitzero"`   // auto (unset), symbolic, central
	Batch        attacks.Opt[int]     `toml:"batch" json:"batch,omitzero"`                 // claimed; unset: the target's
	LR           attacks.Opt[float64] `toml:"lr" json:"lr,omitzero"`                       // claimed; unset: the target's
	Init         attacks.Opt[string]  `toml:"init" json:"init,omitzero"`                   // attacks.InitModes; unset: forged
	Points       attacks.Opt[string]  `toml:"points" json:"points,omitzero"`               // crafted (unset) or real
}

// Flags are the options of `pollab attack zhang`.
func (p *Params) Flags() []attacks.Flag {
	return []attacks.Flag{
		{Name: "variant", Usage: "I (land each step on the line), II (cancel the drift inside an interval; default), III (zero-gradient points)", Value: &p.Variant},
		{Name: "steps", Usage: "T', the forged proof's steps (default: the target's T)", Value: attacks.Ints(&p.Steps)},
		{Name: "k", Usage: "checkpoint interval (default: the target's k); t = T'/k line segments", Value: &p.K},
		{Name: "iters", Usage: "L-BFGS iterations N per try (default: 100 for I, 10 for II and III)", Value: &p.Iters},
		{Name: "evals", Usage: "objective evaluations (gradient-matching passes) per try (default or 0: N)", Value: &p.Evals},
		{Name: "lambda", Usage: "weight of |r|² (default: 1 for I and II, 0.1 for III)", Value: &p.Lambda},
		{Name: "retries", Usage: fmt.Sprintf("tries per step, each on a fresh real batch (default %d)", DefaultRetries), Value: &p.Retries},
		{Name: "max-residual", Usage: fmt.Sprintf("retry while |g - g*|² exceeds this (default %g)", float64(DefaultMaxResidual)), Value: &p.MaxResidual},
		{Name: "max-r2", Usage: fmt.Sprintf("retry while |r|² exceeds this, per batch of B points (default %g)", float64(DefaultMaxNormR2)), Value: &p.MaxNormR2},
		{Name: "large-batch", Usage: "variant III: one crafted batch of k·B points per interval", Value: &p.LargeBatch},
		{Name: "attacker-data", Usage: "full (the whole training set; default) or half (its even-indexed points)", Value: &p.AttackerData},
		{Name: "second-order", Usage: "auto (symbolic when the model allows it; default), symbolic or central", Value: &p.SecondOrder},
		{Name: "batch", Usage: "claimed batch size (default: the target's)", Value: &p.Batch},
		{Name: "lr", Usage: "claimed learning rate (default: the target's)", Value: &p.LR},
		attacks.InitFlag(&p.Init),
		{Name: "points", Usage: "crafted (real points + optimised perturbation, in the payload; default) or real (the best-matching of --retries real batches: passes membership)", Value: &p.Points},
	}
}

func (p *Params) variant() (Variant, error) { return ParseVariant(p.Variant.Or("II")) }

// Validate checks the fields that need no target.
func (p *Params) Validate() error {
	v, err := p.variant()
	if err != nil {
		return fmt.Errorf("variant: %w", err)
	}
	for _, t := range p.Steps {
		if t < 1 {
			return fmt.Errorf("steps: %d must be >= 1", t)
		}
	}
	if err := attacks.AtLeastOne(map[string]attacks.Opt[int]{"k": p.K, "iters": p.Iters, "retries": p.Retries, "batch": p.Batch}); err != nil {
		return err
	}
	if p.Evals.Value < 0 {
		return fmt.Errorf("evals %d: want >= 0", p.Evals.Value)
	}
	if err := attacks.Positive(map[string]attacks.Opt[float64]{"max_residual": p.MaxResidual, "max_r2": p.MaxNormR2, "lr": p.LR}); err != nil {
		return err
	}
	if p.Lambda.Given && !(p.Lambda.Value >= 0) {
		return fmt.Errorf("lambda %v: want >= 0", p.Lambda.Value)
	}
	if err := attacks.OneOf("attacker_data", p.AttackerData.Or(AttackerFull), AttackerFull, AttackerHalf); err != nil {
		return err
	}
	if err := attacks.OneOf("second_order", p.SecondOrder.Or("auto"), "auto", "symbolic", "central"); err != nil {
		return err
	}
	if p.LargeBatch.Value && v != VariantIII {
		return errors.New("large_batch is a variant III option")
	}
	if err := attacks.ValidInit(p.Init); err != nil {
		return err
	}
	if err := attacks.OneOf("points", p.Points.Or(PointsCrafted), PointsCrafted, PointsReal); err != nil {
		return err
	}
	if p.Points.Value == PointsReal && p.LargeBatch.Value {
		return errors.New("large_batch crafts points: not with points = real")
	}
	return nil
}

// Label is "zhang-I", "zhang-II" or "zhang-III", with "-real" for real points and the init
// strategy's suffix (attacks.InitLabel).
func (p *Params) Label() string {
	v, _ := p.variant()
	label := "zhang-" + v.String()
	if p.Points.Value == PointsReal {
		label += "-real"
	}
	return attacks.InitLabel(label, p.Init.Value)
}

// Plan forges one proof per listed T'; every step stores its crafted batch.
func (p *Params) Plan() attacks.Plan {
	return attacks.Plan{Steps: p.Steps, K: p.K.Or(0), PayloadBatches: 1}
}

// Weight: every forged step costs about 3N+1 gradient computations (N L-BFGS iterations)
// per try, and the retry rule allows up to Retries tries; with real points, one gradient per
// candidate batch, Retries of them.
func (p *Params) Weight(steps, k int) (typical, bound float64) {
	v, _ := p.variant()
	if p.Points.Value == PointsReal {
		w := float64(steps * p.Retries.Or(DefaultRetries))
		return w, w
	}
	w := float64(steps) * float64(3*p.Iters.Or(v.defaultIters())+1)
	return w, w * float64(p.Retries.Or(DefaultRetries))
}

// New is the attack for one forgery.
func (p *Params) New(f attacks.Forgery) (attacks.Attack, error) {
	v, err := p.variant()
	if err != nil {
		return nil, err
	}
	return &Attack{Config: Config{Variant: v, Steps: f.Steps, K: f.K, Iters: p.Iters.Or(0), Evals: p.Evals.Or(0),
		Lambda: p.Lambda.Or(-1), Retries: p.Retries.Or(0), MaxResidual: p.MaxResidual.Or(0), MaxNormR2: p.MaxNormR2.Or(0),
		LargeBatch: p.LargeBatch.Or(false), AttackerData: p.AttackerData.Or(""), SecondOrder: p.SecondOrder.Or(""),
		Seed: f.Seed, Batch: p.Batch.Or(0), LR: p.LR.Or(0), Init: p.Init.Or(""), Points: p.Points.Or("")}}, nil
}
