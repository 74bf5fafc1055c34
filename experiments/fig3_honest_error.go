package experiments

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func init() { registerFigure("fig3_honest_error", (*figureContext).fig3HonestError) }

// errFloor stands in for a bit-exact (zero) reproduction error on a log axis.
const errFloor = 1e-12

// fig3HonestError: honest maximum reproduction error (normalised) against k, per env, one
// panel per metric; error bars span the seeds.
func (fc *figureContext) fig3HonestError() (*Figure, error) {
	// Every row carries the reproduction error in all four metrics, whatever metric its
	// threshold is in.
	metrics := Metrics
	maxQ := 0
	if !slices.Contains(fc.qs, 0) && len(fc.qs) > 0 {
		maxQ = fc.qs[len(fc.qs)-1]
	}
	f := &Figure{}
	var panels []*plot.Plot
	for _, m := range metrics {
		mi := metricIndex(m)
		p := newPlot(fmt.Sprintf("%s distance", m), "checkpoint interval k (steps)",
			fmt.Sprintf("max honest error (%s / d_ref)", m))
		logX(p)
		logY(p)
		for _, env := range fc.envs {
			seen := map[string]bool{}
			pts := map[float64][]float64{}
			for _, r := range fc.selectRows(func(r *Row) bool {
				return r.Kind == KindHonest && r.Env == env && r.Q == maxQ && r.Audit == 0
			}) {
				if seen[r.ProofID] || math.IsNaN(r.MaxReproNorm[mi]) {
					continue
				}
				seen[r.ProofID] = true
				pts[float64(r.K)] = append(pts[float64(r.K)], math.Max(r.MaxReproNorm[mi], errFloor))
			}
			ep := &errPoints{}
			for _, s := range spreads(pts) {
				ep.add(s.x, s.mean, 0, 0, s.mean-s.lo, s.hi-s.mean)
			}
			st := fc.envStyle(env)
			st.dashes = nil
			if err := f.addSeries(p, ep, "env "+env, st, false); err != nil {
				return nil, err
			}
		}
		panels = append(panels, p)
	}
	f.addNote(fmt.Sprintf("largest error over the intervals the verifier re-executes (%s)", qLabel(maxQ)))
	f.addNote(fmt.Sprintf("bit-exact (0) drawn at %g; error bars: min-max over seeds", errFloor))
	f.Panels = gridOf(panels, 2)
	f.Width, f.Height = textWidth, vg.Points(170*float64(len(f.Panels)))
	return f, nil
}
