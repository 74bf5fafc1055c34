package verifier_test

// A new defence in one file (docs/EXTENDING.md shows this file whole): "lr-floor" rejects a
// proof whose checkpoints store a learning rate below a floor times the manifest's base lr,
// the tiny claimed lr of Fang et al.'s infinitesimal attack, without enforcing the whole
// schedule. It registers itself in init; from then on `pollab verify --lr-floor 0.01` and a
// spec's [verify.check.lr-floor] run it (a list of floors sweeps, one CSV column lr_floor).

import (
	"fmt"
	"strconv"
	"testing"

	"pollab/experiments"
	"pollab/internal/labtest"
	"pollab/stats"
	"pollab/verifier"
)

func init() {
	verifier.Register(verifier.Kind{
		Name:      "lr-floor",
		Usage:     "stored lr never below a floor times the manifest's base lr",
		Order:     45, // after the hparams check, before the replay
		NewConfig: func() verifier.Config { return &lrFloorConfig{} },
	})
}

// lrFloorFinding is what the check collects: the smallest stored lr over the manifest's.
type lrFloorFinding struct {
	MinRatio float64 `json:"min_ratio"`
	Step     int     `json:"step"` // the checkpoint step storing it
}

// lrFloor is the check: a value, its floor.
type lrFloor struct {
	Floor float64 `json:"floor"`
}

func (lrFloor) Name() string { return "lr-floor" }

// Collect reads every checkpoint's stored lr (Source.States, read once by Gather). It does
// not depend on the floor, so one Evidence serves every floor of a sweep.
func (lrFloor) Collect(src *verifier.Source, ev *verifier.Evidence) error {
	base := src.Manifest.Hyper().LR
	f := lrFloorFinding{MinRatio: 1, Step: -1}
	for _, c := range src.States {
		if r := c.LR / base; r < f.MinRatio {
			f.MinRatio, f.Step = r, c.Step
		}
	}
	return ev.SetFinding("lr-floor", f)
}

func (c lrFloor) Judge(j *verifier.Judging) *verifier.Rejection {
	var f lrFloorFinding
	if ok, err := j.Ev.Finding("lr-floor", &f); !ok || err != nil {
		return verifier.Incomplete("the lr-floor finding is missing (%v)", err)
	}
	if !(f.MinRatio >= c.Floor) {
		return verifier.Reject("lr-floor", -1, f.Step, "checkpoint at step %d stores lr %.3g of the manifest's, below the floor %g",
			f.Step, f.MinRatio, c.Floor)
	}
	return nil
}

// lrFloorConfig is its configuration: flag --lr-floor, spec key floor (a list sweeps).
// No floor leaves the check off.
type lrFloorConfig struct {
	Floor []float64 `json:"floor"`
}

func (c *lrFloorConfig) Flags() []verifier.Flag {
	return []verifier.Flag{{Name: "lr-floor", Usage: "reject stored lrs below this fraction of the manifest's lr",
		Set: func(s string) error {
			v, err := strconv.ParseFloat(s, 64)
			c.Floor = []float64{v}
			return err
		}}}
}

func (c *lrFloorConfig) Variants() ([]verifier.Variant, error) {
	var out []verifier.Variant
	for _, f := range c.Floor {
		if !(f > 0 && f <= 1) {
			return nil, fmt.Errorf("lr-floor %g: want 0 < floor <= 1", f)
		}
		out = append(out, verifier.Variant{Check: lrFloor{Floor: f},
			Labels: []verifier.Label{{Column: "lr_floor", Value: strconv.FormatFloat(f, 'g', -1, 64)}}})
	}
	return out, nil
}

// The test runs the lab's harness on the tests' tiny spec with the check at two floors:
// honest proofs pass it, the infinitesimal attack's proofs fail it at both, and every row
// is labelled with its floor.
func TestLRFloorThroughTheHarness(t *testing.T) {
	rows := labtest.RunTiny(t, `
name = "lr-floor-example"
[verify.check.lr-floor]
floor = [0.001, 0.5]
`)
	count := map[string]int{}
	for _, r := range rows {
		if r.Env != "exact" || r.Q != 0 || r.Metric() != experiments.MetricAll || !r.Normalized() ||
			r.DeltaNorm() != stats.ReferenceNormalizedDelta {
			continue
		}
		floor := r.Extra["lr_floor"]
		count[r.Kind+" at "+floor]++
		switch r.Kind {
		case experiments.KindHonest:
			if !r.Accepted {
				t.Errorf("honest proof %s at floor %s: rejected by %s", r.ProofID, floor, r.FailedCheck)
			}
		case "infinitesimal":
			if r.Accepted || r.FailedCheck != "lr-floor" {
				t.Errorf("infinitesimal proof %s at floor %s: accepted %v, failed %q; want rejected by lr-floor",
					r.ProofID, floor, r.Accepted, r.FailedCheck)
			}
		}
	}
	for _, floor := range []string{"0.001", "0.5"} {
		if count["honest at "+floor] != 4 || count["infinitesimal at "+floor] != 2 {
			t.Errorf("floor %s: %d honest and %d infinitesimal rows; want 4 (per seed and k) and 2 (per seed)",
				floor, count["honest at "+floor], count["infinitesimal at "+floor])
		}
	}
}
