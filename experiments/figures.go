package experiments

import (
	"bytes"
	"fmt"
	"image/color"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// FigureFormats are the files written per figure.
var FigureFormats = []string{"png", "svg", "pdf"}

// PublishedBreakEven is Zhang et al.'s break-even T'/T (2,516 of about 78,000 steps).
const PublishedBreakEven = 0.032

// Figure sizes are print sizes: textWidth is a two-column paper's full text width (7 in),
// columnWidth one column (3.4 in), so the fonts below stay legible when the figure is placed
// at that width. PNGs are rasterised at pngDPI.
const (
	textWidth   = 504 // points
	columnWidth = 245 // points
	pngDPI      = 150
)

// Font sizes (points) at print size.
var (
	titleFont  = vg.Points(8.5)
	labelFont  = vg.Points(8)
	tickFont   = vg.Points(7)
	legendFont = vg.Points(7.5)
)

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
	// legend holds the figure's one legend, drawn in its own tile under the panels (the
	// panels draw none), each label once however many panels draw the series.
	legend []legendEntry
	// Notes are measured values the figure annotates (e.g. the break-even), for the CLI to print.
	Notes []string
	// Width and Height are the size of the panel grid; the legend tile is added below it.
	Width, Height vg.Length
}

// legendEntry is one line of the shared legend; an entry without thumbnails is a note.
type legendEntry struct {
	label  string
	thumbs []plot.Thumbnailer
}

// LegendLabels returns the labels of the figure's shared legend, in drawing order.
func (f *Figure) LegendLabels() []string {
	out := make([]string, len(f.legend))
	for i, e := range f.legend {
		out[i] = e.label
	}
	return out
}

// addLegend adds a legend entry unless one with this label exists (panels repeat series).
func (f *Figure) addLegend(label string, thumbs ...plot.Thumbnailer) {
	if slices.ContainsFunc(f.legend, func(e legendEntry) bool { return e.label == label }) {
		return
	}
	f.legend = append(f.legend, legendEntry{label: label, thumbs: thumbs})
}

// addNote adds a text-only line to the legend (how to read the figure).
func (f *Figure) addNote(note string) { f.addLegend(note) }

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

// seriesStyle is how one series looks: colour names the attack or env, the marker repeats
// it in black and white, the dash pattern separates honest (dashed) from forged (solid).
type seriesStyle struct {
	color  color.Color
	shape  draw.GlyphDrawer
	dashes []vg.Length
}

// palette is Tableau 10: distinguishable, and still ten different greys in print.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, // brown
	color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff}, // pink
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}, // grey
	color.RGBA{R: 0xbc, G: 0xbd, B: 0x22, A: 0xff}, // olive
	color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}, // cyan
}

var (
	filledShapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.PlusGlyph{}, draw.CrossGlyph{}}
	hollowShapes = []draw.GlyphDrawer{draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}
	dashed       = []vg.Length{vg.Points(3), vg.Points(1.5)}
	dashPatterns = [][]vg.Length{nil, dashed, {vg.Points(1), vg.Points(1.2)}, {vg.Points(4), vg.Points(1.5), vg.Points(1), vg.Points(1.5)}}
)

// kindStyle: solid, filled markers, the first colours of the palette, one per forgery kind.
func (fc *figureContext) kindStyle(kind string) seriesStyle {
	i := max(0, slices.Index(fc.kinds, kind))
	return seriesStyle{color: palette[i%len(palette)], shape: filledShapes[i%len(filledShapes)]}
}

// envStyle: dashed, hollow markers, the palette's colours after the kinds', one per env.
func (fc *figureContext) envStyle(env string) seriesStyle {
	i := max(0, slices.Index(fc.envs, env))
	return seriesStyle{color: palette[(len(fc.kinds)+i)%len(palette)], shape: hollowShapes[i%len(hollowShapes)], dashes: dashed}
}

// qStyle: one colour, marker and dash pattern per verifier Q (fig2's curves within a panel).
func (fc *figureContext) qStyle(q int) seriesStyle {
	qColors := []color.Color{palette[0], palette[1], palette[2], palette[3], palette[4]}
	i := max(0, slices.Index(fc.qs, q))
	return seriesStyle{color: qColors[i%len(qColors)], shape: filledShapes[i%len(filledShapes)], dashes: dashPatterns[i%len(dashPatterns)]}
}

// addSeries draws a line with point markers and error bars, and adds it to the figure's
// legend. Series with no points are skipped.
func (f *Figure) addSeries(p *plot.Plot, pts *errPoints, label string, st seriesStyle, xErrors bool) error {
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
	line.Color = st.color
	line.Width = vg.Points(1)
	line.Dashes = st.dashes
	scatter.Color = st.color
	scatter.Shape = st.shape
	scatter.Radius = vg.Points(2)
	yb, err := plotter.NewYErrorBars(pts)
	if err != nil {
		return fmt.Errorf("series %s error bars: %w", label, err)
	}
	yb.Color = st.color
	yb.Width = vg.Points(0.8)
	yb.CapWidth = vg.Points(3)
	p.Add(line, scatter, yb)
	if xErrors {
		xb, err := plotter.NewXErrorBars(pts)
		if err != nil {
			return fmt.Errorf("series %s error bars: %w", label, err)
		}
		xb.Color = st.color
		xb.Width = vg.Points(0.8)
		xb.CapWidth = vg.Points(3)
		p.Add(xb)
	}
	f.addLegend(label, line, scatter)
	f.Points += pts.Len()
	if !slices.Contains(f.Series, label) {
		f.Series = append(f.Series, label)
	}
	if f.panelPoints == nil {
		f.panelPoints = map[*plot.Plot]int{}
	}
	f.panelPoints[p] += pts.Len()
	return nil
}

// addRate adds a rate with its standard error, the error bar clipped to [0, 1] (a rate's
// range), shifted by off on both axes (fig2 separates curves that would coincide).
func (e *errPoints) addRate(x, xse, y, yse, off float64) {
	e.add(x+off, y+off, math.Min(xse, x), math.Min(xse, 1-x), math.Min(yse, y), math.Min(yse, 1-y))
}

// refLine draws a straight reference line from (x0,y0) to (x1,y1) and names it in the legend.
func (f *Figure) refLine(p *plot.Plot, x0, y0, x1, y1 float64, label string, c color.Color, dashes []vg.Length) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: toLogY(p, y0)}, {X: x1, Y: toLogY(p, y1)}})
	if err != nil {
		return fmt.Errorf("reference line %s: %w", label, err)
	}
	l.Color = c
	l.Width = vg.Points(1)
	l.Dashes = dashes
	p.Add(l)
	f.addLegend(label, l)
	return nil
}

// labelAt writes text at a data point of p (annotations such as the published break-even).
func labelAt(p *plot.Plot, x, y float64, s string, c color.Color, xAlign text.XAlignment) error {
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: x, Y: toLogY(p, y)}}, Labels: []string{s}})
	if err != nil {
		return fmt.Errorf("label %q: %w", s, err)
	}
	l.TextStyle[0].Font.Size = tickFont
	l.TextStyle[0].Color = c
	l.TextStyle[0].XAlign = xAlign
	l.Offset = vg.Point{X: vg.Points(2), Y: vg.Points(2)}
	if xAlign == text.XRight {
		l.Offset.X = -vg.Points(2)
	}
	p.Add(l)
	return nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = titleFont
	p.Title.Padding = vg.Points(3)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = labelFont
		a.Label.Padding = vg.Points(2)
		a.Tick.Label.Font.Size = tickFont
		a.Padding = vg.Points(2)
	}
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 225}
	g.Horizontal.Color = color.Gray{Y: 225}
	p.Add(g)
	return p
}

// gridOf arranges panels in rows of at most maxCols, as square as that allows.
func gridOf(panels []*plot.Plot, maxCols int) [][]*plot.Plot {
	if len(panels) == 0 {
		return nil
	}
	rows := (len(panels) + maxCols - 1) / maxCols
	cols := (len(panels) + rows - 1) / rows
	var out [][]*plot.Plot
	for i := 0; i < len(panels); i += cols {
		out = append(out, panels[i:min(i+cols, len(panels))])
	}
	return out
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
		for m := 2; m <= 9 && e1-e0 <= 6; m++ { // minor ticks on wide ranges are a solid bar
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
	labelled := 0
	for _, t := range ticks {
		if t.Label != "" {
			labelled++
		}
	}
	if labelled < 2 {
		// Less than a decade, between two labelled multiples: plain linear ticks say more.
		return plot.DefaultTicks{}.Ticks(lo, hi)
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

// rateAxis fixes a rate axis to [0, 1] with a small margin (the legend is outside the panel).
func rateAxis(a *plot.Axis) {
	a.Min, a.Max = -0.05, 1.05
	a.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25}, {Value: 0.5, Label: "0.5"},
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
			f.legend = nil
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

// fig1Trap: honest false-reject per env (dashed) and each forgery's spoof-accept (solid)
// against normalised delta, one panel per Q.
func (fc *figureContext) fig1Trap() (*Figure, error) {
	f := &Figure{Name: "fig1_trap"}
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

// fig2Offset separates fig2's Q curves, which would otherwise lie on top of each other
// wherever the rates are all 0 or 1.
const fig2Offset = 0.025

// fig2TradeOff: spoof-accept against honest false-reject, parametric in delta: one panel per
// forgery kind (rows) and env (columns), one curve per verifier Q.
func (fc *figureContext) fig2TradeOff() (*Figure, error) {
	f := &Figure{Name: "fig2_tradeoff"}
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
	f := &Figure{Name: "fig3_honest_error"}
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

// fig4Cost: each forgery's cost over honest training of the same T against T'/T, with the
// break-even line at 1 and Zhang et al.'s published 3.2% marked.
func (fc *figureContext) fig4Cost() (*Figure, error) {
	f := &Figure{Name: "fig4_cost", Width: textWidth * 0.62, Height: vg.Points(230)}
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

// nearestDelta returns the grid value closest (in log) to want among the given rows; of two
// equally close values, the tighter.
func nearestDelta(rows []*Row, want float64) float64 {
	best, bestD := math.NaN(), math.Inf(1)
	for _, r := range rows {
		if !(r.DeltaNorm > 0) {
			continue
		}
		d := math.Abs(math.Log(r.DeltaNorm / want))
		if d < bestD || (d == bestD && r.DeltaNorm < best) {
			best, bestD = r.DeltaNorm, d
		}
	}
	return best
}

// fig5DeltaFactors place fig5's panels, as multiples of Fang et al.'s normalised 0.008: two
// halvings below it (where audits can catch Blindfold) and one doubling above. Fixed
// multiples rather than data-driven ones, so the panels mean the same in every run; each is
// drawn at the grid value nearest to it.
var fig5DeltaFactors = []float64{0.25, 0.5, 1, 2}

// fig5PanelDeltas returns the grid deltas nearest (in log) to each of fig5's wanted deltas,
// ascending, each once (a coarse grid may map two wanted deltas to one value).
func fig5PanelDeltas(rows []*Row) (wanted, grid []float64) {
	for _, f := range fig5DeltaFactors {
		w := ReferenceNormalizedDelta * f
		wanted = append(wanted, w)
		if d := nearestDelta(rows, w); !math.IsNaN(d) && !slices.Contains(grid, d) {
			grid = append(grid, d)
		}
	}
	slices.Sort(grid)
	return wanted, grid
}

// honestRejections maps each normalised grid delta to whether some honest row there (proofs
// at the target k, any Q and audit count) is rejected.
func honestRejections(rows []*Row) map[float64]bool {
	rejected := map[float64]bool{}
	for _, r := range rows {
		rejected[r.DeltaNorm] = rejected[r.DeltaNorm] || !r.Accepted
	}
	return rejected
}

// tightestHonestDelta is the smallest grid delta from which on every honest row is accepted:
// the tightest delta a verifier of this env can afford. NaN when some honest proof fails even
// the loosest delta, or there are no honest rows.
func tightestHonestDelta(rejected map[float64]bool) float64 {
	deltas := slices.Collect(maps.Keys(rejected))
	slices.Sort(deltas)
	best := math.NaN()
	for i := len(deltas) - 1; i >= 0 && !rejected[deltas[i]]; i-- {
		best = deltas[i]
	}
	return best
}

// fig5XLabel is short enough for a quarter of the text width.
const fig5XLabel = "verifier's Q (intervals / epoch)"

// fig5Shift separates fig5's audit curves along Q (in units of Q).
const fig5Shift = 0.1

// fig5Blindfold: Blindfold spoof-accept against the verifier's Q, with and without random
// audits, one panel per delta (see fig5DeltaFactors): audits catch Blindfold only where the
// delta is tighter than what an untrained interval moves when re-executed.
func (fc *figureContext) fig5Blindfold() (*Figure, error) {
	f := &Figure{Name: "fig5_blindfold"}
	rows := fc.forgeryRows(KindBlindfold, func(r *Row) bool {
		return r.Env == fc.env && r.Metric == fc.metric && r.Normalized
	})
	wanted, deltas := fig5PanelDeltas(rows)
	honestRejected := honestRejections(fc.honestRows(func(r *Row) bool {
		return r.Env == fc.env && r.Metric == fc.metric && r.Normalized
	}))
	honestSafe := tightestHonestDelta(honestRejected)
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
	var ticks []plot.Tick
	for _, q := range fc.qs {
		lbl := strconv.Itoa(q)
		if q == 0 {
			lbl = "all"
		}
		ticks = append(ticks, plot.Tick{Value: qx(q), Label: lbl})
	}
	attackerQ, audits := map[int]bool{}, map[int]bool{}
	for _, r := range rows {
		attackerQ[r.AttackQ], audits[r.Audit] = true, true
	}
	var panels []*plot.Plot
	for _, delta := range deltas {
		title := fmt.Sprintf("delta = %g %s/d_ref", delta, fc.metric)
		if honestRejected[delta] {
			title += " (rejects honest)"
		}
		p := newPlot(title, fig5XLabel, "spoof-accept rate")
		rateAxis(&p.Y)
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.X.Min, p.X.Max = 0.5, allX+0.5
		// Curves of different audit counts often coincide (all 0 or all 1): where a Q has
		// several, shift each a little along Q so every one stays visible.
		curvesAt := map[float64]map[int]bool{}
		for _, r := range rows {
			if r.DeltaNorm == delta {
				if curvesAt[qx(r.Q)] == nil {
					curvesAt[qx(r.Q)] = map[int]bool{}
				}
				curvesAt[qx(r.Q)][r.Audit] = true
			}
		}
		for i, a := range sortedKeys(audits) {
			shift := (float64(i) - float64(len(audits)-1)/2) * fig5Shift
			rates := acceptRates(slices.DeleteFunc(slices.Clone(rows), func(r *Row) bool { return r.Audit != a || r.DeltaNorm != delta }),
				func(r *Row) float64 { return qx(r.Q) })
			ep := &errPoints{}
			for _, rt := range rates {
				x := rt.x
				if len(curvesAt[x]) > 1 {
					x += shift
				}
				ep.addRate(x, 0, rt.p, rt.se, 0)
			}
			label := "top-Q only, no random audit"
			if a > 0 {
				label = fmt.Sprintf("top-Q + %d random audits per epoch", a)
				if a == 1 {
					label = "top-Q + 1 random audit per epoch"
				}
			}
			st := seriesStyle{color: palette[i%len(palette)], shape: filledShapes[i%len(filledShapes)], dashes: dashPatterns[i%len(dashPatterns)]}
			if err := f.addSeries(p, ep, label, st, false); err != nil {
				return nil, err
			}
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 { // no Blindfold rows: one empty panel, which BuildFigures labels
		panels = append(panels, newPlot("Blindfold vs top-Q verifier", fig5XLabel, "spoof-accept rate"))
	}
	var ws []string
	for _, w := range wanted {
		ws = append(ws, strconv.FormatFloat(w, 'g', -1, 64))
	}
	f.addNote(fmt.Sprintf("env %s; panels at the grid deltas nearest %s %s/d_ref (Fang et al.'s %g, halved twice, doubled)",
		fc.env, strings.Join(ws, ", "), fc.metric, ReferenceNormalizedDelta))
	if !math.IsNaN(honestSafe) {
		tightest := ""
		if honestSafe == slices.Min(slices.Collect(maps.Keys(honestRejected))) {
			tightest = " (the grid's tightest)"
		}
		f.addNote(fmt.Sprintf("honest proofs (k = %d) of env %s: all accepted at every Q and audit count from delta = %g up%s",
			fc.targetK, fc.env, honestSafe, tightest))
	}
	var aq []string
	for _, q := range sortedKeys(attackerQ) {
		aq = append(aq, strconv.Itoa(q))
	}
	if len(aq) > 0 {
		f.addNote(fmt.Sprintf("attacker's genuine intervals per epoch q = %s", strings.Join(aq, ", ")))
	}
	f.addNote(fmt.Sprintf("error bars: standard error over seeds and attacker q; audit curves shifted by %g in Q to stay apart", fig5Shift))
	f.Panels = gridOf(panels, len(fig5DeltaFactors))
	f.Width, f.Height = textWidth, vg.Points(175*float64(len(f.Panels)))
	return f, nil
}

// fig6Infinitesimal: checkpoints needed and spoof cost against the crafting gap delta.
func (fc *figureContext) fig6Infinitesimal() (*Figure, error) {
	f := &Figure{Name: "fig6_infinitesimal", Width: textWidth, Height: vg.Points(175)}
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

// legendLayout is where the shared legend goes: series entries fill columns of equal width
// (as many as the figure's width holds), then each note gets a line of its own.
type legendLayout struct {
	entries, notes   []legendEntry
	cols, rows       int
	colWidth, height vg.Length
	entryHeight      vg.Length
}

var (
	legendPad   = vg.Points(4)  // around the legend tile
	legendGap   = vg.Points(10) // between legend columns
	legendThumb = vg.Points(18)
	panelPad    = vg.Points(6)
)

func legendStyle() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font.Size = legendFont
	l.Top, l.Left = true, true
	l.ThumbnailWidth = legendThumb
	l.Padding = vg.Points(1.5)
	return l
}

func (f *Figure) legendLayout() legendLayout {
	var lay legendLayout
	for _, e := range f.legend {
		if len(e.thumbs) == 0 {
			lay.notes = append(lay.notes, e)
		} else {
			lay.entries = append(lay.entries, e)
		}
	}
	if len(f.legend) == 0 {
		return lay
	}
	l := legendStyle()
	sty := l.TextStyle
	// The spacing gonum's Legend.Draw uses: the text's height above the baseline plus Padding.
	lay.entryHeight = sty.Rectangle("Xg").Max.Y + l.Padding
	var widest vg.Length
	for _, e := range lay.entries {
		widest = max(widest, legendThumb+sty.Width(" "+e.label))
	}
	lay.colWidth = widest + legendGap
	if len(lay.entries) > 0 {
		lay.cols = max(1, min(len(lay.entries), int((f.Width-2*legendPad+legendGap)/lay.colWidth)))
		lay.rows = (len(lay.entries) + lay.cols - 1) / lay.cols
	}
	lay.height = vg.Length(lay.rows+len(lay.notes))*lay.entryHeight + sty.FontExtents().Descent + 2*legendPad
	return lay
}

// TotalHeight is the canvas height: the panel grid plus the legend tile under it.
func (f *Figure) TotalHeight() vg.Length { return f.Height + f.legendLayout().height }

// render draws the figure's panels and its shared legend onto one canvas of the given format.
func (f *Figure) render(format string) (out []byte, err error) {
	defer func() {
		// gonum/plot panics on some degenerate inputs (e.g. a non-positive value on a log
		// axis); a figure must fail as an error, never take the run down.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("figure %s as %s: %v", f.Name, format, r)
		}
	}()
	if f.Width <= 0 || f.Height <= 0 {
		f.Width, f.Height = textWidth, vg.Points(200)
	}
	lay := f.legendLayout()
	w, h := f.Width, f.Height+lay.height
	var c vg.CanvasWriterTo
	if format == "png" {
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}
	} else if c, err = draw.NewFormattedCanvas(w, h, format); err != nil {
		return nil, fmt.Errorf("figure %s: %w", f.Name, err)
	}
	dc := draw.New(c)
	rows, cols := len(f.Panels), 0
	for _, r := range f.Panels {
		cols = max(cols, len(r))
	}
	panelArea := draw.Crop(dc, 0, 0, lay.height, 0)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: panelPad, PadY: panelPad,
		PadTop: vg.Points(3), PadBottom: vg.Points(2), PadLeft: vg.Points(2), PadRight: vg.Points(4)}
	// Plain tiles rather than plot.Align: Align's height equalisation misplaces log-scale
	// panels (a band of empty space under the title).
	for i, r := range f.Panels {
		for j, p := range r {
			if p != nil {
				p.Draw(tiles.At(panelArea, j, i))
			}
		}
	}
	f.drawLegend(dc, lay)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("figure %s as %s: %w", f.Name, format, err)
	}
	return buf.Bytes(), nil
}

// drawLegend draws the shared legend in the tile at the bottom of dc: the series in
// columns, centred, and the notes centred under them.
func (f *Figure) drawLegend(dc draw.Canvas, lay legendLayout) {
	if lay.height == 0 {
		return
	}
	top := dc.Min.Y + lay.height - legendPad
	width := dc.Max.X - dc.Min.X
	used := vg.Length(lay.cols)*lay.colWidth - legendGap
	left := dc.Min.X + max(legendPad, (width-used)/2)
	for col := 0; col < lay.cols; col++ {
		l := legendStyle()
		for i := col * lay.rows; i < min(len(lay.entries), (col+1)*lay.rows); i++ {
			l.Add(lay.entries[i].label, lay.entries[i].thumbs...)
		}
		x := left + vg.Length(col)*lay.colWidth
		l.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: dc.Min.Y + legendPad},
			Max: vg.Point{X: x + lay.colWidth, Y: top},
		}})
	}
	sty := legendStyle().TextStyle
	sty.XAlign = text.XCenter
	descent := sty.FontExtents().Descent
	for i, n := range lay.notes {
		y := top - vg.Length(lay.rows+i+1)*lay.entryHeight - descent + legendStyle().Padding
		dc.FillText(sty, vg.Point{X: dc.Min.X + width/2, Y: y}, n.label)
	}
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
