package experiments

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func init() { registerFigure("fig1_trap", (*figureContext).fig1Trap) }

// fig1Trap: honest false-reject per env (dashed) and each forgery's spoof-accept (solid)
// against normalised delta, one panel per Q.
func (fc *figureContext) fig1Trap() (*Figure, error) {
	f := &Figure{}
	var panels []*plot.Plot
	for _, q := range fc.qs {
		p := newPlot("verifier checks "+qLabel(q)+" per epoch",
			fmt.Sprintf("threshold delta (%s / d_ref)", fc.metric), "rate")
		if q == 0 {
			p.Title.Text = "verifier checks every interval"
		}
		logX(p)
		rateAxis(&p.Y)
		for _, env := range fc.envs {
			rates := acceptRates(fc.honestRows(func(r *Row) bool { return r.Q == q && r.Env == env && fc.sweepPoint(r) }),
				func(r *Row) float64 { return r.DeltaNorm })
			pts := &errPoints{}
			for _, rt := range rates {
				pts.addRate(rt.x, 0, 1-rt.p, rt.se, 0)
			}
			if err := f.addSeries(p, pts, "honest false-reject, env "+env, fc.envStyle(env), false); err != nil {
				return nil, err
			}
		}
		for _, kind := range fc.kinds {
			rates := acceptRates(fc.forgeryRows(kind, func(r *Row) bool { return r.Q == q && r.Env == fc.env && fc.sweepPoint(r) }),
				func(r *Row) float64 { return r.DeltaNorm })
			pts := &errPoints{}
			for _, rt := range rates {
				pts.addRate(rt.x, 0, rt.p, rt.se, 0)
			}
			if err := f.addSeries(p, pts, kind+" spoof-accept, env "+fc.env, fc.kindStyle(kind), false); err != nil {
				return nil, err
			}
		}
		panels = append(panels, p)
	}
	f.addNote("error bars: standard error over seeds")
	f.Panels = gridOf(panels, 3)
	f.Width, f.Height = textWidth, vg.Points(165*float64(len(f.Panels)))
	return f, nil
}
