package infinitesimal

import (
	"errors"

	"pollab/attacks"
	"pollab/stats"
)

func init() {
	attacks.Register(attacks.Kind{
		Name:  "infinitesimal",
		Usage: "Fang et al.'s infinitesimal update: checkpoints on the line W'0 -> W_T with gaps <= delta and a tiny claimed lr",
		Description: "W'0 is drawn from the init law (KS p >= 0.01) and rank-matched to W_T; checkpoints lie on the line\n" +
			"W'0 -> W_T, as many as every gap <= delta needs, over a real batch schedule. Every checkpoint claims an\n" +
			"lr so small (from an analytic gradient-norm bound) that re-executing any interval barely moves: no\n" +
			"gradient is computed. Published defaults: T' = 10,000, k = 10, l2, normalised delta 0.008; here T' and\n" +
			"k default to the target's.",
		Budgeted:  true,
		NewConfig: func() attacks.Config { return &Params{} },
	})
}

// Params configure the attack from a spec's [[attack]] section (kind = "infinitesimal") or
// from the flags of `pollab attack infinitesimal`.
type Params struct {
	// Steps lists forged lengths T' (one forgery each; unset: the target's T), raised when
	// the gaps need more.
	Steps []int            `toml:"steps" json:"steps,omitempty"`
	K     attacks.Opt[int] `toml:"k" json:"k,omitzero"` // unset: the target's k
	// Delta lists normalised l2 thresholds (fractions of d_ref) a spec sweeps, one forgery
	// each; unset: stats.ReferenceNormalizedDelta. The CLI takes --delta instead.
	Delta      []float64         `toml:"delta" json:"delta,omitempty"`
	CheckFirst attacks.Opt[bool] `toml:"check_first" json:"check_first,omitzero"`
	// Init is where the line starts (attacks.InitModes; unset: forged).
	Init attacks.Opt[string] `toml:"init" json:"init,omitzero"`
}

// Flags are the options of `pollab attack infinitesimal` (the threshold flags are shared).
func (p *Params) Flags() []attacks.Flag {
	return []attacks.Flag{
		{Name: "steps", Usage: "T', the forged proof's steps, raised when the gaps need more (default: the target's T)", Value: attacks.Ints(&p.Steps)},
		{Name: "k", Usage: "checkpoint interval (default: the target's k)", Value: &p.K},
		{Name: "check-first", Usage: "re-execute the first interval to measure the drift (k gradient passes, recorded)", Value: &p.CheckFirst},
		attacks.InitFlag(&p.Init),
	}
}

// Validate checks the fields that need no target.
func (p *Params) Validate() error {
	for _, t := range p.Steps {
		if t < 1 {
			return errors.New("steps: must be >= 1")
		}
	}
	if err := attacks.AtLeastOne(map[string]attacks.Opt[int]{"k": p.K}); err != nil {
		return err
	}
	if err := attacks.ValidInit(p.Init); err != nil {
		return err
	}
	return stats.PositiveFinite("delta", p.Delta)
}

// Label is "infinitesimal", with its init strategy (attacks.InitLabel).
func (p *Params) Label() string { return attacks.InitLabel("infinitesimal", p.Init.Value) }

// Plan forges one proof per T' and delta.
func (p *Params) Plan() attacks.Plan {
	return attacks.Plan{Steps: p.Steps, Deltas: attacks.DeltasOr(p.Delta), K: p.K.Or(0)}
}

// Weight: no gradient at all; writing the checkpoints is about one honest step's work.
func (p *Params) Weight(steps, k int) (typical, bound float64) { return 1, 1 }

// New is the attack for one forgery.
func (p *Params) New(f attacks.Forgery) (attacks.Attack, error) {
	if f.Budget == nil {
		return nil, errors.New("infinitesimal: no threshold delta to aim under")
	}
	return &Attack{Config: Config{Budget: *f.Budget, Steps: f.StepsOr(), K: f.KOr(), Seed: f.Seed,
		CheckFirst: p.CheckFirst.Or(false), Init: p.Init.Or("")}}, nil
}
