package experiments

import (
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func init() { registerFigure("fig6_infinitesimal", (*figureContext).fig6Infinitesimal) }

// fig6Infinitesimal: checkpoints needed and spoof cost against the crafting gap delta.
func (fc *figureContext) fig6Infinitesimal() (*Figure, error) {
	f := &Figure{Width: textWidth, Height: vg.Points(175)}
	ckpt := newPlot("checkpoints the forgery needs", "crafting gap delta (l2 / d_ref)", "checkpoints in the forged proof")
	cost := newPlot("spoof cost", "crafting gap delta (l2 / d_ref)", "spoof FLOPs / honest training FLOPs")
	for _, p := range []*plot.Plot{ckpt, cost} {
		logX(p)
		logY(p)
	}
	seen := map[string]bool{}
	nck, ncost := map[float64][]float64{}, map[float64][]float64{}
	for _, r := range fc.selectRows(func(r *Row) bool { return r.Kind == KindInfinitesimal }) {
		if seen[r.ProofID] || math.IsNaN(r.AttackDelta) {
			continue
		}
		seen[r.ProofID] = true
		nck[r.AttackDelta] = append(nck[r.AttackDelta], float64(r.Checkpoints))
		if r.CostFraction > 0 {
			ncost[r.AttackDelta] = append(ncost[r.AttackDelta], r.CostFraction)
		}
	}
	for i, series := range []map[float64][]float64{nck, ncost} {
		ep := &errPoints{}
		for _, s := range spreads(series) {
			ep.add(s.x, s.mean, 0, 0, s.mean-s.lo, s.hi-s.mean)
		}
		p := []*plot.Plot{ckpt, cost}[i]
		if err := f.addSeries(p, ep, KindInfinitesimal+" update attack (mean over seeds)", fc.kindStyle(KindInfinitesimal), false); err != nil {
			return nil, err
		}
	}
	f.addNote("error bars: min-max over seeds")
	f.Panels = [][]*plot.Plot{{ckpt, cost}}
	return f, nil
}
