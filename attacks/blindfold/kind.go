package blindfold

import (
	"errors"
	"fmt"

	"pollab/attacks"
	"pollab/stats"
)

func init() {
	attacks.Register(attacks.Kind{
		Name:  "blindfold",
		Usage: "Fang et al.'s Blindfold Top-Q: q genuine, rescaled intervals lead each epoch, the rest interpolated",
		Description: "Each epoch starts with q·k honestly computed SGD steps on recorded batches whose claimed lr makes\n" +
			"them the epoch's largest updates (reproducible by re-execution), followed by checkpoints interpolated\n" +
			"to the epoch's anchor on the line W'0 -> W_T with gaps <= delta. A verifier re-executing the top Q <= q\n" +
			"updates per epoch accepts. Published defaults E = 200, q = 5, k = 10, S = 200; here E defaults to the\n" +
			"target's epochs, k to its k and S to the rest of one claimed epoch, so the attacker's epochs are the verifier's.",
		Budgeted:  true,
		NewConfig: func() attacks.Config { return &Params{} },
	})
}

// Params configure the attack from a spec's [[attack]] section (kind = "blindfold") or from
// the flags of `pollab attack blindfold`. Its length follows from epochs, q, k and
// spoof_steps, so it has no steps list.
type Params struct {
	Epochs     attacks.Opt[int]    `toml:"epochs" json:"epochs,omitzero"`           // E; unset: the target's epochs
	Q          attacks.Opt[int]    `toml:"q" json:"q,omitzero"`                     // unset: DefaultQ
	K          attacks.Opt[int]    `toml:"k" json:"k,omitzero"`                     // unset: the target's k
	SpoofSteps attacks.Opt[int]    `toml:"spoof_steps" json:"spoof_steps,omitzero"` // S per epoch; unset: the rest of a claimed epoch
	Interp     attacks.Opt[string] `toml:"interp" json:"interp,omitzero"`           // lr of interpolated checkpoints; unset: manifest
	// Delta lists normalised l2 thresholds (fractions of d_ref) a spec sweeps, one forgery
	// each; unset: stats.ReferenceNormalizedDelta. The CLI takes --delta instead.
	Delta []float64 `toml:"delta" json:"delta,omitempty"`
	// Init is where the line starts (attacks.InitModes; unset: forged). Under committed, E
	// is raised until the gaps fit (Config.Init).
	Init attacks.Opt[string] `toml:"init" json:"init,omitzero"`
}

// Flags are the options of `pollab attack blindfold` (the threshold flags are shared).
func (p *Params) Flags() []attacks.Flag {
	return []attacks.Flag{
		{Name: "epochs", Usage: "E, the attacker's epochs (default: the target's)", Value: &p.Epochs},
		{Name: "q", Usage: fmt.Sprintf("genuinely computed intervals at the start of each epoch (default %d)", DefaultQ), Value: &p.Q},
		{Name: "k", Usage: "checkpoint interval (default: the target's k)", Value: &p.K},
		{Name: "steps", Usage: "S, interpolated steps per epoch, a multiple of k (default: the rest of one claimed epoch, floor(N/B/k)·k − q·k)", Value: &p.SpoofSteps},
		{Name: "interp-lr", Usage: "lr claimed by interpolated checkpoints: manifest (the task's schedule; default), tiny (infinitesimal) or genuine", Value: &p.Interp},
		attacks.InitFlag(&p.Init),
	}
}

// Validate checks the fields that need no target.
func (p *Params) Validate() error {
	if err := attacks.AtLeastOne(map[string]attacks.Opt[int]{"epochs": p.Epochs, "q": p.Q, "k": p.K}); err != nil {
		return err
	}
	if p.SpoofSteps.Value < 0 {
		return fmt.Errorf("spoof_steps %d: want >= 0", p.SpoofSteps.Value)
	}
	if k := p.K.Or(0); k > 0 && p.SpoofSteps.Value%k != 0 {
		return fmt.Errorf("spoof_steps %d: want a multiple of k %d", p.SpoofSteps.Value, k)
	}
	if err := attacks.OneOf("interp", p.Interp.Or(InterpManifest), InterpManifest, InterpTiny, InterpGenuine); err != nil {
		return err
	}
	if err := attacks.ValidInit(p.Init); err != nil {
		return err
	}
	return stats.PositiveFinite("delta", p.Delta)
}

// Label is "blindfold", with its init strategy (attacks.InitLabel).
func (p *Params) Label() string { return attacks.InitLabel("blindfold", p.Init.Value) }

// Plan forges one proof per delta; attack_q is q.
func (p *Params) Plan() attacks.Plan {
	return attacks.Plan{Deltas: attacks.DeltasOr(p.Delta), K: p.K.Or(0), Q: p.Q.Or(DefaultQ)}
}

// Weight: q·k genuine SGD steps per epoch (interpolation is almost free).
func (p *Params) Weight(steps, k int) (typical, bound float64) {
	w := float64(p.Q.Or(DefaultQ) * k * p.Epochs.Or(1))
	return w, w
}

// New is the attack for one forgery (its Steps are ignored: E, q, k and S give T').
func (p *Params) New(f attacks.Forgery) (attacks.Attack, error) {
	if f.Budget == nil {
		return nil, errors.New("blindfold: no threshold delta to aim under")
	}
	epochs := p.Epochs.Or(0)
	if epochs == 0 && f.Target != nil {
		epochs = f.Target.Manifest.Epochs
	}
	return &Attack{Config: Config{Epochs: epochs, Q: p.Q.Or(0), K: f.KOr(), SpoofSteps: p.SpoofSteps.Or(0),
		Budget: *f.Budget, Seed: f.Seed, InterpLR: p.Interp.Or(""), Init: p.Init.Or("")}}, nil
}
