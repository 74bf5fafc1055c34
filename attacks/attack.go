package attacks

import (
	"context"

	"pollab/autodiff"
)

// Progress reports a long run's progress: done of total units, with an optional note.
type Progress func(done, total int, note string)

// Options are the run-wide settings every spoofer takes.
type Options struct {
	Progress Progress
	// Command is recorded in the forged proof's provenance.json (the CLI passes os.Args).
	Command []string
}

// Report calls o.Progress when it is set.
func (o Options) Report(done, total int, note string) {
	if o.Progress != nil {
		o.Progress(done, total, note)
	}
}

// Attack is a spoofer: it forges a proof for t.Final in directory out.
type Attack interface {
	Name() string // "zhang", "infinitesimal", "blindfold"
	Forge(ctx context.Context, t *Target, out string, opt Options) (*Result, error)
}

// Result describes a forged proof and what forging it cost.
type Result struct {
	Attack      string        `json:"attack"`
	Out         string        `json:"out"`         // the proof directory
	Cost        autodiff.Cost `json:"cost"`        // everything the attacker computed
	Steps       int           `json:"steps"`       // T' claimed by the forged proof
	K           int           `json:"k"`           // its checkpoint interval
	Checkpoints int           `json:"checkpoints"` // ceil(T'/k) + 1
	// CostFraction compares Cost with honest training of the same T' steps.
	CostFraction Fraction `json:"cost_fraction"`
	// Notes are attack-specific facts (how the lr was chosen, gaps, retries), as strings.
	Notes map[string]string `json:"notes,omitempty"`
	// Report is the attack's full report (what `pollab attack --json` prints); nil: the
	// Result itself. Details are human-readable lines about it beyond the Result's own.
	Report  any      `json:"-"`
	Details []string `json:"-"`
}

// Fraction is a spoof's cost over the cost of honestly training the same number of steps,
// in FLOPs (gradient FLOPs plus the non-gradient Other) and in wall time.
type Fraction struct {
	FLOPs float64 `json:"flops"`
	// Wall is 0 when the honest wall time is unknown (no ledger): see WallMeasured.
	Wall         float64 `json:"wall"`
	WallMeasured bool    `json:"wall_measured"`
	// HonestFLOPs and HonestWallSeconds are the honest cost of the same number of steps.
	HonestFLOPs       float64 `json:"honest_flops"`
	HonestWallSeconds float64 `json:"honest_wall_s"`
	// HonestMeasured says the honest per-step cost came from the target's ledger; otherwise
	// it is the analytic 3·F·B + 6·params FLOPs per step.
	HonestMeasured bool `json:"honest_measured"`
}

// CostFraction is spoof over honest training of steps steps: the per-step honest cost (the
// target's ledger divided by its steps, or the analytic estimate) times steps.
func CostFraction(spoof autodiff.Cost, t *Target, steps int) Fraction {
	perFLOPs, perWall, measured := t.HonestStep()
	f := Fraction{
		HonestFLOPs:       perFLOPs * float64(steps),
		HonestWallSeconds: perWall * float64(steps),
		HonestMeasured:    measured,
	}
	if f.HonestFLOPs > 0 {
		f.FLOPs = (spoof.FLOPs + spoof.Other) / f.HonestFLOPs
	}
	if f.HonestWallSeconds > 0 {
		f.Wall = spoof.Wall.Seconds() / f.HonestWallSeconds
		f.WallMeasured = true
	}
	return f
}
