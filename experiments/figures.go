package experiments

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// FigureFormats are the files written per figure.
var FigureFormats = []string{"png", "svg", "pdf"}

// PublishedBreakEven is Zhang et al.'s break-even T'/T (2,516 of about 78,000 steps).
const PublishedBreakEven = 0.032

// Figure is one multi-panel figure built from results rows.
type Figure struct {
	Name   string         // file stem, e.g. "fig1_trap"
	Panels [][]*plot.Plot // rows of panels
	// Points counts the data points drawn over all panels: 0 means the CSV held no data for it.
	Points int
	// Series lists the legend labels of the data series drawn.
	Series []string
	// panelPoints counts the points per panel, so empty panels can be replaced.
	panelPoints map[*plot.Plot]int
	// Notes are measured values the figure annotates (e.g. the break-even), for the CLI to print.
	Notes         []string
	Width, Height vg.Length
}

// figureContext holds the choices every figure shares, all derived from the CSV.
type figureContext struct {
	rows    []Row
	metric  string // metric of the delta axes
	env     string // env used for the forgeries' curves
	targetK int    // honest proofs at this k are the ones the forgeries target
	qs      []int
	envs    []string
	kinds   []string // forgery kinds, sorted
}

func newFigureContext(rows []Row) *figureContext {
	fc := &figureContext{rows: rows, metric: summaryMetric(rows)}
	envSet, qSet, kindSet := map[string]bool{}, map[int]bool{}, map[string]bool{}
	kCount := map[int]int{}
	for i := range rows {
		r := &rows[i]
		envSet[r.Env], qSet[r.Q] = true, true
		if r.Kind != KindHonest {
			kindSet[r.Kind] = true
			kCount[r.TargetK]++
		}
	}
	fc.envs = sortedKeys(envSet)
	fc.kinds = sortedKeys(kindSet)
	fc.qs = sortedKeys(qSet)
	// Q = 0 (every interval) goes last: it is the strictest verifier.
	if len(fc.qs) > 0 && fc.qs[0] == 0 {
		fc.qs = append(fc.qs[1:], 0)
	}
	fc.env = "exact"
	if !envSet["exact"] && len(fc.envs) > 0 {
		fc.env = fc.envs[0]
	}
	best := -1
	for k, n := range kCount {
		if n > best || (n == best && k < fc.targetK) {
			fc.targetK, best = k, n
		}
	}
	if best < 0 { // no forgeries: the smallest honest k
		for i := range rows {
			if rows[i].Kind == KindHonest && (fc.targetK == 0 || rows[i].K < fc.targetK) {
				fc.targetK = rows[i].K
			}
		}
	}
	return fc
}

func sortedKeys[K string | int](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func qLabel(q int) string {
	if q == 0 {
		return "every interval"
	}
	return fmt.Sprintf("top-%d", q)
}

// rate is the fraction of proofs accepted among rows sharing an x value, with its standard
// error over proofs (seeds).
type rate struct {
	x, p, se float64
	n        int
}

// acceptRates groups rows by x(row) and returns per x the accept rate over distinct proofs.
func acceptRates(rows []*Row, x func(*Row) float64) []rate {
	type acc struct{ yes, n int }
	by := map[float64]*acc{}
	for _, r := range rows {
		a := by[x(r)]
		if a == nil {
			a = &acc{}
			by[x(r)] = a
		}
		a.n++
		if r.Accepted {
			a.yes++
		}
	}
	var out []rate
	for xv, a := range by {
		p := float64(a.yes) / float64(a.n)
		out = append(out, rate{x: xv, p: p, se: math.Sqrt(p * (1 - p) / float64(a.n)), n: a.n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].x < out[j].x })
	return out
}

// spread is the mean, min and max of values sharing an x.
type spread struct{ x, mean, lo, hi float64 }

func spreads(pts map[float64][]float64) []spread {
	var out []spread
	for x, vs := range pts {
		vs = slices.Clone(vs)
		slices.Sort(vs) // a fixed summation order, whatever order the rows came in
		s := spread{x: x, lo: math.Inf(1), hi: math.Inf(-1)}
		for _, v := range vs {
			s.mean += v
			s.lo, s.hi = math.Min(s.lo, v), math.Max(s.hi, v)
		}
		s.mean /= float64(len(vs))
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].x < out[j].x })
	return out
}

// errPoints implements the interfaces of gonum's line, scatter and error-bar plotters.
type errPoints struct {
	xy         plotter.XYs
	xerr, yerr plotter.Errors
}

func (e *errPoints) Len() int                        { return len(e.xy) }
func (e *errPoints) XY(i int) (float64, float64)     { return e.xy[i].X, e.xy[i].Y }
func (e *errPoints) XError(i int) (float64, float64) { return e.xerr[i].Low, e.xerr[i].High }
func (e *errPoints) YError(i int) (float64, float64) { return e.yerr[i].Low, e.yerr[i].High }
func (e *errPoints) add(x, y, xlo, xhi, ylo, yhi float64) {
	e.xy = append(e.xy, plotter.XY{X: x, Y: y})
	e.xerr = append(e.xerr, struct{ Low, High float64 }{xlo, xhi})
	e.yerr = append(e.yerr, struct{ Low, High float64 }{ylo, yhi})
}

// addSeries draws a line with point markers and error bars, and adds it to the legend.
// Series with no points are skipped; the count of points drawn is returned.
func (f *Figure) addSeries(p *plot.Plot, pts *errPoints, label string, style int, dashed, xErrors bool) error {
	dash := 0
	if dashed {
		dash = 1
	}
	return f.addStyledSeries(p, pts, label, style, dash, xErrors)
}

// addStyledSeries is addSeries with a dash pattern index (0: solid).
func (f *Figure) addStyledSeries(p *plot.Plot, pts *errPoints, label string, style, dash int, xErrors bool) error {
	if pts.Len() == 0 {
		return nil
	}
	if isLogY(p) {
		logPts := &errPoints{}
		for i, xy := range pts.xy {
			e := pts.yerr[i]
			y := math.Log10(xy.Y)
			lo, hi := y-math.Log10(xy.Y-e.Low), math.Log10(xy.Y+e.High)-y
			if math.IsNaN(lo) || math.IsInf(lo, 0) {
				lo = 0 // an error bar reaching zero has no bottom on a log axis
			}
			logPts.add(xy.X, y, pts.xerr[i].Low, pts.xerr[i].High, lo, hi)
		}
		pts = logPts
	}
	line, scatter, err := plotter.NewLinePoints(pts)
	if err != nil {
		return fmt.Errorf("series %s: %w", label, err)
	}
	c := plotutil.Color(style)
	line.Color = c
	line.Width = vg.Points(1.2)
	line.Dashes = plotutil.Dashes(dash)
	scatter.Color = c
	scatter.Shape = plotutil.Shape(style)
	scatter.Radius = vg.Points(2.5)
	yb, err := plotter.NewYErrorBars(pts)
	if err != nil {
		return fmt.Errorf("series %s error bars: %w", label, err)
	}
	yb.Color = c
	p.Add(line, scatter, yb)
	if xErrors {
		xb, err := plotter.NewXErrorBars(pts)
		if err != nil {
			return fmt.Errorf("series %s error bars: %w", label, err)
		}
		xb.Color = c
		p.Add(xb)
	}
	p.Legend.Add(label, line, scatter)
	f.Points += pts.Len()
	f.Series = append(f.Series, label)
	if f.panelPoints == nil {
		f.panelPoints = map[*plot.Plot]int{}
	}
	f.panelPoints[p] += pts.Len()
	return nil
}

// refLine draws a straight reference line from (x0,y0) to (x1,y1).
func refLine(p *plot.Plot, x0, y0, x1, y1 float64, label string, c color.Color) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: toLogY(p, y0)}, {X: x1, Y: toLogY(p, y1)}})
	if err != nil {
		return fmt.Errorf("reference line %s: %w", label, err)
	}
	l.Color = c
	l.Width = vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return p
}

func logX(p *plot.Plot) {
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = decadeTicks{}
}

// logY makes p's Y axis logarithmic by plotting log10(y) on a linear axis (see
// exponentTicks): gonum's own log scale centres the axis label at the arithmetic midpoint of
// the range, which on a log axis lies near the top and shrinks the plot under a band of white.
func logY(p *plot.Plot) {
	p.Y.Tick.Marker = exponentTicks{}
}

func isLogY(p *plot.Plot) bool {
	_, ok := p.Y.Tick.Marker.(exponentTicks)
	return ok
}

// toLogY maps a data value to the plotted coordinate of a logY axis.
func toLogY(p *plot.Plot, y float64) float64 {
	if isLogY(p) {
		return math.Log10(y)
	}
	return y
}

// exponentTicks labels a linear axis that holds log10 values as powers of ten.
type exponentTicks struct{}

func (exponentTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for _, t := range (decadeTicks{}).Ticks(math.Pow(10, lo), math.Pow(10, hi)) {
		ticks = append(ticks, plot.Tick{Value: math.Log10(t.Value), Label: t.Label})
	}
	return ticks
}

// decadeTicks labels powers of ten (every other one over wide ranges) and marks the
// multiples in between without labels, so wide log axes stay legible.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	e0, e1 := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	every := 1 + (e1-e0)/8
	var ticks []plot.Tick
	for e := e0; e <= e1; e++ {
		base := math.Pow(10, float64(e))
		if base >= lo && base <= hi {
			label := ""
			if (e-e0)%every == 0 {
				label = decadeLabel(e)
			}
			ticks = append(ticks, plot.Tick{Value: base, Label: label})
		}
		for m := 2; m <= 9; m++ {
			if v := float64(m) * base; v >= lo && v <= hi {
				t := plot.Tick{Value: v}
				if e1-e0 <= 2 && (m == 2 || m == 5) {
					// A range of a decade or two needs labels between the powers of ten.
					t.Label = strconv.FormatFloat(v, 'g', 3, 64)
				}
				ticks = append(ticks, t)
			}
		}
	}
	return ticks
}

func decadeLabel(e int) string {
	switch {
	case e >= 0 && e <= 3:
		return strconv.FormatFloat(math.Pow(10, float64(e)), 'f', 0, 64)
	case e < 0 && e >= -3:
		return strconv.FormatFloat(math.Pow(10, float64(e)), 'f', -e, 64)
	}
	return "1e" + strconv.Itoa(e)
}

// widenLogAxis gives a log axis a positive, non-empty range: gonum widens a one-value range
// by ±1, which can cross zero.
func widenLogAxis(a *plot.Axis) {
	if _, ok := a.Scale.(plot.LogScale); !ok {
		return
	}
	if !(a.Min > 0) {
		a.Min = math.Min(errFloor, a.Max/10)
	}
	if a.Min >= a.Max {
		a.Min, a.Max = a.Min/2, a.Min*2
	}
}

// rateAxis fixes a [0, 1] rate axis with head room above 1 for the legend.
func rateAxis(p *plot.Plot) {
	p.Y.Min, p.Y.Max = -0.05, 1.75
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25}, {Value: 0.5, Label: "0.5"},
		{Value: 0.75}, {Value: 1, Label: "1"}})
}

// BuildFigures builds the six figures from results rows alone.
func BuildFigures(rows []Row) ([]*Figure, error) {
	fc := newFigureContext(rows)
	builders := []func() (*Figure, error){fc.fig1Trap, fc.fig2TradeOff, fc.fig3HonestError,
		fc.fig4Cost, fc.fig5Blindfold, fc.fig6Infinitesimal}
	var figs []*Figure
	for _, b := range builders {
		f, err := b()
		if err != nil {
			return nil, err
		}
		if f.Points == 0 {
			// An empty log axis cannot be drawn; say plainly that the CSV held no data.
			f.Panels = [][]*plot.Plot{{newPlot(f.Name+": no data in the CSV", "", "")}}
		}
		for _, row := range f.Panels {
			for i, p := range row {
				if f.Points > 0 && f.panelPoints[p] == 0 {
					row[i] = newPlot(p.Title.Text+": no data in the CSV", p.X.Label.Text, p.Y.Label.Text)
					continue
				}
				widenLogAxis(&p.X)
				widenLogAxis(&p.Y)
			}
		}
		figs = append(figs, f)
	}
	return figs, nil
}

// select returns the rows matching keep.
func (fc *figureContext) selectRows(keep func(*Row) bool) []*Row {
	var out []*Row
	for i := range fc.rows {
		if keep(&fc.rows[i]) {
			out = append(out, &fc.rows[i])
		}
	}
	return out
}

// forgeryRows keeps, for kinds crafted at several gaps, the proofs crafted at Fang et al.'s
// 0.008 when present, so a curve is one attack configuration.
func (fc *figureContext) forgeryRows(kind string, keep func(*Row) bool) []*Row {
	rows := fc.selectRows(func(r *Row) bool { return r.Kind == kind && keep(r) })
	if slices.ContainsFunc(rows, func(r *Row) bool { return r.AttackDelta == ReferenceNormalizedDelta }) {
		rows = slices.DeleteFunc(rows, func(r *Row) bool { return r.AttackDelta != ReferenceNormalizedDelta })
	}
	return rows
}

func (fc *figureContext) honestRows(keep func(*Row) bool) []*Row {
	return fc.selectRows(func(r *Row) bool { return r.Kind == KindHonest && r.K == fc.targetK && keep(r) })
}

// sweepPoint: a normalised-delta point of the summary metric, without audits.
func (fc *figureContext) sweepPoint(r *Row) bool {
	return r.Metric == fc.metric && r.Normalized && r.Audit == 0
}

// fig1Trap: honest false-reject per env and each forgery's spoof-accept against normalised
// delta, one panel per Q.
func (fc *figureContext) fig1Trap() (*Figure, error) {
	f := &Figure{Name: "fig1_trap", Width: vg.Points(360 * float64(max(1, len(fc.qs)))), Height: vg.Points(420)}
	var row []*plot.Plot
	for _, q := range fc.qs {
		p := newPlot(fmt.Sprintf("verifier %s (forgeries in env %s)", qLabel(q), fc.env),
			fmt.Sprintf("normalised delta (%s / d_ref)", fc.metric), "rate")
		logX(p)
		rateAxis(p)
		style := 0
		for _, env := range fc.envs {
			rates := acceptRates(fc.honestRows(func(r *Row) bool { return r.Q == q && r.Env == env && fc.sweepPoint(r) }),
				func(r *Row) float64 { return r.DeltaNorm })
			pts := &errPoints{}
			for _, rt := range rates {
				pts.add(rt.x, 1-rt.p, 0, 0, rt.se, rt.se)
			}
			err := f.addSeries(p, pts, "honest false-reject, "+env, style, true, false)
			if err != nil {
				return nil, err
			}
			style++
		}
		for _, kind := range fc.kinds {
			rates := acceptRates(fc.forgeryRows(kind, func(r *Row) bool { return r.Q == q && r.Env == fc.env && fc.sweepPoint(r) }),
				func(r *Row) float64 { return r.DeltaNorm })
			pts := &errPoints{}
			for _, rt := range rates {
				pts.add(rt.x, rt.p, 0, 0, rt.se, rt.se)
			}
			err := f.addSeries(p, pts, kind+" spoof-accept", style, false, false)
			if err != nil {
				return nil, err
			}
			style++
		}
		row = append(row, p)
	}
	f.Panels = [][]*plot.Plot{row}
	return f, nil
}

// fig2TradeOff: spoof-accept against honest false-reject, parametric in delta, one curve per
// forgery kind and Q, one panel per env.
func (fc *figureContext) fig2TradeOff() (*Figure, error) {
	f := &Figure{Name: "fig2_tradeoff", Width: vg.Points(330 * float64(max(1, len(fc.envs)))), Height: vg.Points(480)}
	var row []*plot.Plot
	for _, env := range fc.envs {
		p := newPlot("env "+env, "honest false-reject rate", "spoof-accept rate")
		rateAxis(p)
		p.X.Min, p.X.Max = -0.05, 1.05
		for style, kind := range fc.kinds {
			for qi, q := range fc.qs {
				honest := map[float64]rate{}
				for _, rt := range acceptRates(fc.honestRows(func(r *Row) bool { return r.Q == q && r.Env == env && fc.sweepPoint(r) }),
					func(r *Row) float64 { return r.DeltaNorm }) {
					honest[rt.x] = rt
				}
				pts := &errPoints{}
				for _, rt := range acceptRates(fc.forgeryRows(kind, func(r *Row) bool { return r.Q == q && r.Env == env && fc.sweepPoint(r) }),
					func(r *Row) float64 { return r.DeltaNorm }) {
					h, ok := honest[rt.x]
					if !ok {
						continue
					}
					pts.add(1-h.p, rt.p, h.se, h.se, rt.se, rt.se)
				}
				// Colour and marker name the attack, the dash pattern the verifier's Q.
				err := f.addStyledSeries(p, pts, fmt.Sprintf("%s, %s", kind, qLabel(q)), style, qi, true)
				if err != nil {
					return nil, err
				}
			}
		}
		row = append(row, p)
	}
	f.Panels = [][]*plot.Plot{row}
	return f, nil
}

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
	f := &Figure{Name: "fig3_honest_error", Width: vg.Points(300 * float64(max(1, len(metrics)))), Height: vg.Points(300)}
	var row []*plot.Plot
	for _, m := range metrics {
		mi := metricIndex(m)
		p := newPlot(fmt.Sprintf("%s (verifier %s; 0 drawn at %g)", m, qLabel(maxQ), errFloor),
			"checkpoint interval k (steps)", "max honest reproduction error / d_ref")
		logX(p)
		logY(p)
		for style, env := range fc.envs {
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
			err := f.addSeries(p, ep, env, style, false, false)
			if err != nil {
				return nil, err
			}
		}
		p.Y.Max += 0.4 * (p.Y.Max - p.Y.Min) // head room for the legend
		row = append(row, p)
	}
	f.Panels = [][]*plot.Plot{row}
	return f, nil
}

// fig4Cost: each forgery's cost over honest training of the same T against T'/T, with the
// break-even line at 1 and Zhang et al.'s published 3.2% marked.
func (fc *figureContext) fig4Cost() (*Figure, error) {
	f := &Figure{Name: "fig4_cost", Width: vg.Points(480), Height: vg.Points(380)}
	p := newPlot("spoof cost against forged length", "forged steps / honest steps (T'/T)", "spoof FLOPs / honest training FLOPs")
	logX(p)
	logY(p)
	breakEven := map[string]BreakEven{}
	for _, be := range breakEvens(fc.rows) {
		breakEven[be.Kind] = be
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for style, kind := range fc.kinds {
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
			label = fmt.Sprintf("%s (break-even T'/T = %s)", kind, fmtPct(be.Fraction))
			f.Notes = append(f.Notes, fmt.Sprintf("%s: one forged step costs %s honest steps; break-even T'/T = %s (published: 3.2%%)",
				kind, fmtNum(be.StepCostRatio), fmtPct(be.Fraction)))
		}
		err := f.addSeries(p, ep, label, style, false, false)
		if err != nil {
			return nil, err
		}
	}
	if f.Points > 0 {
		xmin, xmax = math.Min(xmin, PublishedBreakEven)/2, math.Max(xmax, 1)*2
		ymin, ymax = math.Min(ymin, 1)/2, math.Max(ymax, 1)*2
		if err := refLine(p, xmin, 1, xmax, 1, "break-even (cost = honest training)", color.Black); err != nil {
			return nil, err
		}
		if err := refLine(p, PublishedBreakEven, ymin, PublishedBreakEven, ymax, "Zhang et al. published break-even 3.2%",
			color.RGBA{R: 200, A: 255}); err != nil {
			return nil, err
		}
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, toLogY(p, ymin), toLogY(p, ymax)
	}
	p.Legend.Top = false
	p.Legend.Left = true
	f.Panels = [][]*plot.Plot{{p}}
	return f, nil
}

// nearestDelta returns the grid value closest (in log) to want among the given rows.
func nearestDelta(rows []*Row, want float64) float64 {
	best, bestD := math.NaN(), math.Inf(1)
	for _, r := range rows {
		if d := math.Abs(math.Log(r.DeltaNorm / want)); d < bestD {
			best, bestD = r.DeltaNorm, d
		}
	}
	return best
}

// fig5Blindfold: Blindfold spoof-accept against the verifier's Q, with and without random
// audits, at normalised delta 0.008 (or the nearest grid value).
func (fc *figureContext) fig5Blindfold() (*Figure, error) {
	f := &Figure{Name: "fig5_blindfold", Width: vg.Points(440), Height: vg.Points(340)}
	rows := fc.forgeryRows(KindBlindfold, func(r *Row) bool {
		return r.Env == fc.env && r.Metric == fc.metric && r.Normalized
	})
	delta := nearestDelta(rows, ReferenceNormalizedDelta)
	// Q = 0 (every interval) is drawn one past the largest Q.
	maxQ := 0
	for _, q := range fc.qs {
		maxQ = max(maxQ, q)
	}
	allX := float64(maxQ + 1)
	qx := func(q int) float64 {
		if q == 0 {
			return allX
		}
		return float64(q)
	}
	attackerQ := map[int]bool{}
	for _, r := range rows {
		attackerQ[r.AttackQ] = true
	}
	p := newPlot(fmt.Sprintf("Blindfold top-Q (attacker q = %v), env %s, delta %s/d_ref = %g",
		sortedKeys(attackerQ), fc.env, fc.metric, delta), "verifier Q per epoch (rightmost: every interval)", "spoof-accept rate")
	rateAxis(p)
	audits := map[int]bool{}
	for _, r := range rows {
		audits[r.Audit] = true
	}
	for style, a := range sortedKeys(audits) {
		rates := acceptRates(slices.DeleteFunc(slices.Clone(rows), func(r *Row) bool { return r.Audit != a || r.DeltaNorm != delta }),
			func(r *Row) float64 { return qx(r.Q) })
		ep := &errPoints{}
		for _, rt := range rates {
			ep.add(rt.x, rt.p, 0, 0, rt.se, rt.se)
		}
		label := "no random audit"
		if a > 0 {
			label = fmt.Sprintf("%d random audits", a)
		}
		err := f.addSeries(p, ep, label, style, false, false)
		if err != nil {
			return nil, err
		}
	}
	var ticks []plot.Tick
	for _, q := range fc.qs {
		lbl := strconv.Itoa(q)
		if q == 0 {
			lbl = "all"
		}
		ticks = append(ticks, plot.Tick{Value: qx(q), Label: lbl})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = 0.5, allX+0.5
	f.Panels = [][]*plot.Plot{{p}}
	return f, nil
}

// fig6Infinitesimal: checkpoints needed and spoof cost against the crafting gap delta.
func (fc *figureContext) fig6Infinitesimal() (*Figure, error) {
	f := &Figure{Name: "fig6_infinitesimal", Width: vg.Points(720), Height: vg.Points(320)}
	ckpt := newPlot("checkpoints the forgery needs", "crafting gap delta (l2 / d_ref)", "checkpoints in the proof")
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
		err := f.addSeries(p, ep, "infinitesimal update attack", 0, false, false)
		if err != nil {
			return nil, err
		}
	}
	f.Panels = [][]*plot.Plot{{ckpt, cost}}
	return f, nil
}

// render draws the figure's panels onto one canvas of the given format.
func (f *Figure) render(format string) (out []byte, err error) {
	defer func() {
		// gonum/plot panics on some degenerate inputs (e.g. a non-positive value on a log
		// axis); a figure must fail as an error, never take the run down.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("figure %s as %s: %v", f.Name, format, r)
		}
	}()
	c, err := draw.NewFormattedCanvas(f.Width, f.Height, format)
	if err != nil {
		return nil, fmt.Errorf("figure %s: %w", f.Name, err)
	}
	dc := draw.New(c)
	rows, cols := len(f.Panels), 0
	for _, r := range f.Panels {
		cols = max(cols, len(r))
	}
	panels := make([][]*plot.Plot, rows)
	for i, r := range f.Panels {
		panels[i] = make([]*plot.Plot, cols)
		copy(panels[i], r)
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 3, PadY: vg.Millimeter * 3,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	// Plain tiles rather than plot.Align: Align's height equalisation misplaces log-scale
	// panels (a band of empty space under the title).
	for i := range panels {
		for j, p := range panels[i] {
			if p != nil {
				p.Draw(tiles.At(dc, j, i))
			}
		}
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("figure %s as %s: %w", f.Name, format, err)
	}
	return buf.Bytes(), nil
}

// Save writes the figure as DIR/NAME.{png,svg,pdf}, atomically, and returns the paths.
func (f *Figure) Save(dir string) ([]string, error) {
	var paths []string
	for _, format := range FigureFormats {
		b, err := f.render(format)
		if err != nil {
			return nil, err
		}
		name := filepath.Join(dir, f.Name+"."+format)
		if err := writeFileAtomic(name, b); err != nil {
			return nil, err
		}
		paths = append(paths, name)
	}
	return paths, nil
}

// DrawFigures builds every figure from rows and writes them under dir.
func DrawFigures(rows []Row, dir string) ([]*Figure, error) {
	figs, err := BuildFigures(rows)
	if err != nil {
		return nil, err
	}
	for _, f := range figs {
		if _, err := f.Save(dir); err != nil {
			return nil, err
		}
	}
	return figs, nil
}
