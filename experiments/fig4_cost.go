package experiments

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

func init() { registerFigure("fig4_cost", (*figureContext).fig4Cost) }

// fig4Cost: each forgery's cost over honest training of the same T against T'/T, with the
// break-even line at 1 and Zhang et al.'s published 3.2% marked.
func (fc *figureContext) fig4Cost() (*Figure, error) {
	f := &Figure{Width: textWidth * 0.62, Height: vg.Points(230)}
	p := newPlot("spoof cost against forged length", "forged steps / honest steps (T'/T)",
		"spoof FLOPs / honest training FLOPs")
	logX(p)
	logY(p)
	breakEven := map[string]BreakEven{}
	for _, be := range breakEvens(fc.rows) {
		breakEven[be.Kind] = be
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, kind := range fc.kinds {
		seen := map[string]bool{}
		pts := map[float64][]float64{}
		for _, r := range fc.selectRows(func(r *Row) bool { return r.Kind == kind }) {
			if seen[r.ProofID] || !(r.CostFraction > 0) || r.TargetSteps <= 0 {
				continue
			}
			seen[r.ProofID] = true
			x := float64(r.Steps) / float64(r.TargetSteps)
			pts[x] = append(pts[x], r.CostFraction)
		}
		ep := &errPoints{}
		for _, s := range spreads(pts) {
			ep.add(s.x, s.mean, 0, 0, s.mean-s.lo, s.hi-s.mean)
			xmin, xmax = math.Min(xmin, s.x), math.Max(xmax, s.x)
			ymin, ymax = math.Min(ymin, s.lo), math.Max(ymax, s.hi)
		}
		label := kind
		if be, ok := breakEven[kind]; ok {
			label = fmt.Sprintf("%s (measured break-even T'/T = %s)", kind, fmtPct(be.Fraction))
			f.Notes = append(f.Notes, fmt.Sprintf("%s: one forged step costs %s honest steps; break-even T'/T = %s (published: 3.2%%)",
				kind, fmtNum(be.StepCostRatio), fmtPct(be.Fraction)))
		}
		if err := f.addSeries(p, ep, label, fc.kindStyle(kind), false); err != nil {
			return nil, err
		}
	}
	if f.Points > 0 {
		xmin, xmax = math.Min(xmin, PublishedBreakEven)/2, math.Max(xmax, 1)*2
		ymin, ymax = math.Min(ymin, 1)/2, math.Max(ymax, 1)*2
		if err := f.refLine(p, xmin, 1, xmax, 1, "break-even: spoof cost = honest training", color.Black, dashed); err != nil {
			return nil, err
		}
		published := color.RGBA{R: 0x60, G: 0x60, B: 0x60, A: 0xff}
		if err := f.refLine(p, PublishedBreakEven, ymin, PublishedBreakEven, ymax, "Zhang et al.'s published break-even T'/T = 3.2%",
			published, []vg.Length{vg.Points(1), vg.Points(1.5)}); err != nil {
			return nil, err
		}
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, toLogY(p, ymin), toLogY(p, ymax)
		if err := labelAt(p, PublishedBreakEven, ymin*math.Pow(ymax/ymin, 0.9), "3.2%", published, text.XLeft); err != nil {
			return nil, err
		}
		if err := labelAt(p, xmax, 1, "break-even", color.Black, text.XRight); err != nil {
			return nil, err
		}
	}
	f.addNote("error bars: min-max over seeds")
	f.Panels = [][]*plot.Plot{{p}}
	return f, nil
}
