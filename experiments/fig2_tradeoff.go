package experiments

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func init() { registerFigure("fig2_tradeoff", (*figureContext).fig2TradeOff) }

// fig2Offset separates fig2's Q curves, which would otherwise lie on top of each other
// wherever the rates are all 0 or 1.
const fig2Offset = 0.025

// fig2TradeOff: spoof-accept against honest false-reject, parametric in delta: one panel per
// forgery kind (rows) and env (columns), one curve per verifier Q.
func (fc *figureContext) fig2TradeOff() (*Figure, error) {
	f := &Figure{}
	var grid [][]*plot.Plot
	for _, kind := range fc.kinds {
		var row []*plot.Plot
		for _, env := range fc.envs {
			p := newPlot(kind+", env "+env, "honest false-reject", "spoof-accept")
			rateAxis(&p.X)
			rateAxis(&p.Y)
			p.X.Min, p.X.Max = -0.1, 1.1
			p.Y.Min, p.Y.Max = -0.1, 1.1
			for qi, q := range fc.qs {
				honest := map[float64]rate{}
				for _, rt := range acceptRates(fc.honestRows(func(r *Row) bool { return r.Q == q && r.Env == env && fc.sweepPoint(r) }),
					func(r *Row) float64 { return r.DeltaNorm }) {
					honest[rt.x] = rt
				}
				off := (float64(qi) - float64(len(fc.qs)-1)/2) * fig2Offset
				pts := &errPoints{}
				for _, rt := range acceptRates(fc.forgeryRows(kind, func(r *Row) bool { return r.Q == q && r.Env == env && fc.sweepPoint(r) }),
					func(r *Row) float64 { return r.DeltaNorm }) {
					h, ok := honest[rt.x]
					if !ok {
						continue
					}
					pts.addRate(1-h.p, h.se, rt.p, rt.se, off)
				}
				if err := f.addSeries(p, pts, "verifier "+qLabel(q), fc.qStyle(q), true); err != nil {
					return nil, err
				}
			}
			row = append(row, p)
		}
		grid = append(grid, row)
	}
	if len(fc.qs) > 1 {
		f.addNote(fmt.Sprintf("curves offset by %g per Q so they do not overlap", fig2Offset))
	}
	f.addNote("one point per threshold delta; error bars: standard error over seeds")
	f.Panels = grid
	cols := max(1, len(fc.envs))
	f.Width = vg.Points(math.Max(textWidth, 110*float64(cols)))
	f.Height = vg.Points(float64(f.Width) / float64(cols) * float64(max(1, len(grid))))
	return f, nil
}
