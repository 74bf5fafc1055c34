package experiments

import (
	"fmt"

	"gonum.org/v1/plot"
)

func init() { registerFigure("fig2_tradeoff", (*figureContext).fig2TradeOff) }

// fig2MinPanel is the narrowest a fig2 panel may be (points) before the kind x env matrix is
// folded into rows of the style's columns.
const fig2MinPanel = 95

// fig2TradeOff: spoof-accept against honest false-reject, parametric in delta: one panel per
// forgery kind (rows) and env (columns), one curve per verifier Q. Curves are not shifted:
// where several Q coincide their hollow markers are nested (the first Q's largest).
func (fc *figureContext) fig2TradeOff() (*Figure, error) {
	f := fc.newFigure()
	var grid [][]*plot.Plot
	for _, kind := range fc.kinds {
		var row []*plot.Plot
		for _, env := range fc.envs {
			p := f.newPlot(kind+"\nenv "+env, "honest false-reject", "spoof-accept") // two lines: a panel is narrow
			rateAxis(&p.X)
			rateAxis(&p.Y)
			p.X.Min, p.X.Max = -0.1, 1.1
			p.Y.Min, p.Y.Max = -0.1, 1.1
			for qi, q := range fc.qs {
				at := func(r *Row) bool { return r.Q == q && r.Env == env && fc.sweepPoint(r) }
				honest := map[float64]rate{}
				for _, rt := range acceptRates(fc.honestRows(at), func(r *Row) float64 { return r.DeltaNorm() }) {
					honest[rt.x] = rt
				}
				pts := &errPoints{}
				for _, rt := range acceptRates(fc.forgeryRows(kind, at), func(r *Row) float64 { return r.DeltaNorm() }) {
					if h, ok := honest[rt.x]; ok {
						pts.addRate(1-h.p, h.se, rt.p, rt.se)
					}
				}
				sr := Series{Label: "verifier " + qLabel(q), Key: fmt.Sprintf("rank:%d", qi), Kind: kind, Env: env}
				if err := f.addSeries(p, pts, sr, orderedStyle(qi), true); err != nil {
					return nil, err
				}
			}
			row = append(row, p)
		}
		grid = append(grid, row)
	}
	f.Caption = fmt.Sprintf("The trade-off each threshold delta buys: spoof-accept rate against honest false-reject rate, one point per "+
		"delta of the grid (%s / d_ref), one panel per forgery kind (rows) and reproduction env (columns), one curve per verifier Q "+
		"(%s), no random audits. A verifier wants the bottom-left corner.", fc.metric, qList(fc.qs))
	f.addNote("one point per threshold delta; error bars: standard error over seeds")
	if n := len(f.coincidences(func(s Series) string { return s.Label })); n > 0 {
		f.addNote(fmt.Sprintf("curves of several Q coincide in %d panels: nested markers, the first Q's largest", n))
	}
	cols := max(1, len(fc.envs))
	if float64(fc.style.Width)/float64(cols) >= fig2MinPanel {
		f.Panels = grid
		f.aspect = 1
		f.sizeGrid()
	} else {
		var panels []*plot.Plot
		for _, row := range grid {
			panels = append(panels, row...)
		}
		f.aspect = 1
		f.layout(panels, fc.style.MaxCols)
	}
	return f, nil
}
