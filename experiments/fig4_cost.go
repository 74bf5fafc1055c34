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

// crossing is where a plotted cost curve meets the break-even line (cost = honest training).
type crossing struct {
	// state: "crosses" (X is where, interpolated in log-log between the two points around
	// it), "below" (every plotted point is cheaper than honest training) or "above" (none is).
	state string
	x     float64
	// lo and hi are the plotted T'/T range.
	lo, hi float64
}

// crossBreakEven finds where the curve (xs ascending, ys its mean cost fractions) first
// reaches 1 from below.
func crossBreakEven(xs, ys []float64) crossing {
	c := crossing{state: "below", lo: xs[0], hi: xs[len(xs)-1]}
	if ys[0] == 1 {
		c.state, c.x = "crosses", xs[0]
		return c
	}
	if ys[0] > 1 {
		c.state = "above"
		return c
	}
	for i := 1; i < len(xs); i++ {
		if ys[i] >= 1 {
			t := -math.Log(ys[i-1]) / (math.Log(ys[i]) - math.Log(ys[i-1]))
			c.state, c.x = "crosses", math.Exp(math.Log(xs[i-1])+float64(t*(math.Log(xs[i])-math.Log(xs[i-1]))))
			return c
		}
	}
	return c
}

// label says where the curve crosses break-even, in words when it does not.
func (c crossing) label() string {
	switch c.state {
	case "crosses":
		return "crosses break-even at T'/T = " + fmtPct(c.x)
	case "above":
		return "never cheaper at the plotted T'/T (" + fmtPct(c.lo) + " and up)"
	}
	if c.lo == c.hi {
		return "cheaper than honest training at T'/T = " + fmtPct(c.lo)
	}
	return "cheaper at every plotted T'/T (up to " + fmtPct(c.hi) + ")"
}

// fig4Cost: each forgery's cost over honest training of the same T against T'/T, with the
// break-even line at 1 and Zhang et al.'s published 3.2% marked. The legend gives where each
// plotted curve crosses 1; the notes the summary's linear break-even (per forged step).
func (fc *figureContext) fig4Cost() (*Figure, error) {
	f := fc.newFigure()
	p := f.newPlot("spoof cost against forged length", "forged steps / honest steps (T'/T)",
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
		if flag := fixedStepCost(fc.rows, kind); flag != "" {
			f.addNote(flag)
			f.Notes = append(f.Notes, flag)
		}
		ep := &errPoints{}
		var xs, ys []float64
		for _, s := range spreads(pts) {
			ep.add(s.x, s.mean, 0, 0, s.mean-s.lo, s.hi-s.mean)
			xs, ys = append(xs, s.x), append(ys, s.mean)
			xmin, xmax = math.Min(xmin, s.x), math.Max(xmax, s.x)
			ymin, ymax = math.Min(ymin, s.lo), math.Max(ymax, s.hi)
		}
		if len(xs) == 0 {
			continue
		}
		label := kind + ": " + crossBreakEven(xs, ys).label()
		if be, ok := breakEven[kind]; ok {
			f.Notes = append(f.Notes, fmt.Sprintf("%s: one forged step costs %s honest steps on average; linear break-even %s (published: 3.2%%)",
				kind, fmtNum(be.StepCostRatio), fmtBreakEven(be.Fraction)))
		}
		if err := f.addSeries(p, ep, Series{Label: label, Key: "kind:" + kind, Kind: kind}, kindStyle(kind), false); err != nil {
			return nil, err
		}
	}
	if f.Points > 0 {
		xmin, xmax = math.Min(xmin, PublishedBreakEven)/2, math.Max(xmax, 1)*2
		ymin, ymax = decadeRange(math.Min(ymin, 1)/2, math.Max(ymax, 1)*2)
		if err := f.refLine(p, xmin, 1, xmax, 1, "break-even: spoof cost = honest training", color.Black, dashed); err != nil {
			return nil, err
		}
		published := rgb(0x606060)
		if err := f.refLine(p, PublishedBreakEven, ymin, PublishedBreakEven, ymax, "Zhang et al.'s published break-even T'/T = 3.2%",
			published, []vg.Length{vg.Points(1), vg.Points(1.5)}); err != nil {
			return nil, err
		}
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, toLogY(p, ymin), toLogY(p, ymax)
		if err := f.labelAt(p, PublishedBreakEven, ymin*math.Pow(ymax/ymin, 0.04), "3.2%", published, text.XLeft); err != nil {
			return nil, err
		}
		if err := f.labelAt(p, xmax, 1, "break-even", color.Black, text.XRight); err != nil {
			return nil, err
		}
	}
	f.Caption = "Spoof cost against forged length: each forgery's FLOPs over the FLOPs of honest training of the same T, against " +
		"the forged steps T' over T; mean over seeds, error bars min to max. Below the dashed line spoofing is cheaper than " +
		"training; the legend gives where each plotted curve crosses it, the dotted line Zhang et al.'s published 3.2%."
	f.addNote("error bars: min-max over seeds; break-even where the plotted mean crosses 1 (log-log interpolation)")
	f.noteCoincidences(func(s Series) string { return s.Kind })
	f.layout([]*plot.Plot{p}, 1)
	return f, nil
}

// fixedStepCost flags a kind whose every proof, at several forged lengths, costs the same per
// forged step to 4 digits: a fixed budget (for Zhang et al.'s attacks tries x L-BFGS
// iterations; Zhang-I on MNIST uses every one of its 30 tries at every step) sets that cost
// rather than the crafting's progress, and the curve measures the budget.
func fixedStepCost(rows []Row, kind string) string {
	seen, lengths := map[string]bool{}, map[int]bool{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range rows {
		r := &rows[i]
		if r.Kind != kind || seen[r.ProofID] || !(r.CostFraction > 0) || r.Steps <= 0 || r.TargetSteps <= 0 {
			continue
		}
		seen[r.ProofID], lengths[r.Steps] = true, true
		per := r.CostFraction * float64(r.TargetSteps) / float64(r.Steps)
		lo, hi = math.Min(lo, per), math.Max(hi, per)
	}
	if len(lengths) < 2 || hi-lo > 1e-4*hi {
		return ""
	}
	return fmt.Sprintf("%s: every proof (%d, %d forged lengths) costs %s honest steps per forged step: its fixed budget (tries x iterations), not the crafting's progress, sets this cost",
		kind, len(seen), len(lengths), fmtNum(hi))
}
