package experiments

import (
	"math"

	"gonum.org/v1/plot"
)

func init() { registerFigure("fig6_infinitesimal", (*figureContext).fig6Infinitesimal) }

// fig6Infinitesimal: checkpoints needed and spoof cost against the crafting gap delta. Both
// y axes start at 0, so the size of a change reads as its share of the whole.
func (fc *figureContext) fig6Infinitesimal() (*Figure, error) {
	f := fc.newFigure()
	ckpt := f.newPlot("checkpoints the forgery needs", "crafting gap delta (l2 / d_ref)", "checkpoints in the forged proof")
	cost := f.newPlot("spoof cost", "crafting gap delta (l2 / d_ref)", "spoof FLOPs / honest training FLOPs")
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
		p := []*plot.Plot{ckpt, cost}[i]
		logX(p)
		ep := &errPoints{}
		top := 0.0
		for _, s := range spreads(series) {
			ep.add(s.x, s.mean, 0, 0, s.mean-s.lo, s.hi-s.mean)
			top = math.Max(top, s.hi)
		}
		p.Y.Min, p.Y.Max = 0, top*1.1
		sr := Series{Label: KindInfinitesimal + " update attack (mean over seeds)", Key: "kind:" + KindInfinitesimal, Kind: KindInfinitesimal}
		if err := f.addSeries(p, ep, sr, kindStyle(KindInfinitesimal), false); err != nil {
			return nil, err
		}
	}
	f.Caption = "The infinitesimal update attack (Fang et al.) against the gap it crafts between consecutive checkpoints " +
		"(normalised l2): the checkpoints its forged proof holds and its cost over honest training of the same T; " +
		"mean over seeds, error bars min to max; y axes from 0."
	f.addNote("error bars: min-max over seeds; y axes start at 0")
	f.layout([]*plot.Plot{ckpt, cost}, 2)
	return f, nil
}
