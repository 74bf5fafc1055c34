package experiments

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

func init() { registerFigure("fig3_honest_error", (*figureContext).fig3HonestError) }

// errFloor bounds log axes from below when nothing else does.
const errFloor = 1e-12

// fig3HonestError: honest maximum reproduction error (normalised) against k, per env, one
// panel per metric; error bars span the seeds. A bit-exact (zero) error has no place on a
// log axis: such points are left out and named in a note, never moved.
func (fc *figureContext) fig3HonestError() (*Figure, error) {
	maxQ := 0
	if !slices.Contains(fc.qs, 0) && len(fc.qs) > 0 {
		maxQ = fc.qs[len(fc.qs)-1]
	}
	f := fc.newFigure()
	var panels []*plot.Plot
	ks := map[float64]bool{}
	exact := map[string]map[string]bool{} // env -> metrics where some k reproduced bit-exactly on average
	// Every row carries the reproduction error in all four metrics, whatever metric its
	// threshold is in.
	for _, m := range Metrics {
		mi := metricIndex(m)
		p := f.newPlot(fmt.Sprintf("%s distance", m), "checkpoint interval k (steps)",
			fmt.Sprintf("max honest error (%s / d_ref)", m))
		logX(p)
		logY(p)
		lo, hi := math.Inf(1), math.Inf(-1)
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
				pts[float64(r.K)] = append(pts[float64(r.K)], r.MaxReproNorm[mi])
			}
			ep := &errPoints{}
			for _, s := range spreads(pts) {
				ks[s.x] = true
				if !(s.mean > 0) {
					if exact[env] == nil {
						exact[env] = map[string]bool{}
					}
					exact[env][m] = true
					continue
				}
				ep.add(s.x, s.mean, 0, 0, s.mean-s.lo, s.hi-s.mean)
				lo, hi = math.Min(lo, math.Max(s.lo, s.mean/10)), math.Max(hi, s.hi)
			}
			sr := Series{Label: "env " + env, Key: "env:" + env, Kind: KindHonest, Env: env}
			if err := f.addSeries(p, ep, sr, envStyle(env), false); err != nil {
				return nil, err
			}
		}
		if hi > 0 {
			ymin, ymax := decadeRange(lo, hi)
			p.Y.Min, p.Y.Max = math.Log10(ymin), math.Log10(ymax)
		}
		panels = append(panels, p)
	}
	// Ticks at the k values measured, each labelled.
	var ticks []plot.Tick
	for _, k := range sortedKeys(ks) {
		ticks = append(ticks, plot.Tick{Value: k, Label: strconv.FormatFloat(k, 'g', -1, 64)})
	}
	kmin, kmax := math.Inf(1), math.Inf(-1)
	for k := range ks {
		kmin, kmax = math.Min(kmin, k), math.Max(kmax, k)
	}
	for _, p := range panels {
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		if len(ks) > 0 {
			p.X.Min, p.X.Max = kmin/1.15, kmax*1.15
		}
	}
	f.Caption = fmt.Sprintf("Honest reproduction error: the largest distance between a re-executed interval and the proof's next "+
		"checkpoint over the intervals a verifier re-executing %s per epoch checks, normalised by d_ref, against the checkpoint "+
		"interval k, one curve per reproduction env, one panel per metric; mean over seeds, error bars min to max.", qLabel(maxQ))
	f.addNote(fmt.Sprintf("largest error over the intervals the verifier re-executes (%s); error bars: min-max over seeds", qLabel(maxQ)))
	var zero []string
	for _, env := range fc.envs {
		if ms := exact[env]; len(ms) > 0 {
			var names []string
			for _, m := range Metrics {
				if ms[m] {
					names = append(names, m)
				}
			}
			zero = append(zero, fmt.Sprintf("env %s (%s)", env, strings.Join(names, ", ")))
		}
	}
	if len(zero) > 0 {
		f.addNote("bit-exact (error 0 on average over seeds, not drawable on a log axis, left out): " + strings.Join(zero, "; "))
	}
	f.layout(panels, 2)
	return f, nil
}
