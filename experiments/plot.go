package experiments

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
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

// pngDPI is the PNG raster resolution; sizes are print sizes (see Style).
const pngDPI = 150

// Figure is one multi-panel figure built from results rows.
type Figure struct {
	Name string // file stem, e.g. "fig1_trap"
	// Caption says what the figure shows, from the same rows (written beside it as NAME.md).
	Caption string
	Panels  [][]*plot.Plot // rows of panels
	// Points counts the data points drawn over all panels: 0 means the CSV held no data for it.
	Points int
	// Series lists the legend labels of the data series drawn.
	Series []string
	// Data holds every drawn series with the values it plots, for tests and captions.
	Data []Series
	// panelPoints counts the points per panel, so empty panels can be dropped.
	panelPoints map[*plot.Plot]int
	// legend holds the figure's one legend, drawn in its own tile under the panels (the
	// panels draw none), each label once however many panels draw the series.
	legend []legendEntry
	// Notes are measured values the figure annotates (e.g. the break-even), for the CLI to print.
	Notes []string
	// Width and Height are the size of the panel grid; the legend tile is added below it.
	Width, Height vg.Length
	style         Style
	aspect        float64 // a panel's height over its width; 0: the style's
}

// Series is one drawn curve: the panel it is in, its legend label, what its colour stands for
// (Key: "kind:K", "env:E" or "rank:N" for ordered curves such as verifier Q), the proofs'
// kind and env when the curve is of one kind or env ("" when it spans several), and the
// plotted values, exactly as computed from the rows (never shifted).
type Series struct {
	Panel, Label, Key, Kind, Env string
	X, Y                         []float64
	style                        seriesStyle
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

// addSeries draws a line with point markers and error bars, and adds it to the figure's
// legend and Data. Series with no points are skipped.
func (f *Figure) addSeries(p *plot.Plot, pts *errPoints, sr Series, st seriesStyle, xErrors bool) error {
	if pts.Len() == 0 {
		return nil
	}
	sr.Panel, sr.style = p.Title.Text, st
	for _, xy := range pts.xy {
		sr.X, sr.Y = append(sr.X, xy.X), append(sr.Y, xy.Y)
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
		return fmt.Errorf("series %s: %w", sr.Label, err)
	}
	scale := st.scale
	if scale == 0 {
		scale = 1
	}
	line.Color = st.color
	line.Width = f.style.Line
	line.Dashes = st.dashes
	scatter.Color = st.color
	scatter.Shape = st.shape
	scatter.Radius = vg.Length(float64(f.style.Marker) * scale)
	bars := []plot.Plotter{}
	yb, err := plotter.NewYErrorBars(pts)
	if err != nil {
		return fmt.Errorf("series %s error bars: %w", sr.Label, err)
	}
	bars = append(bars, yb)
	if xErrors {
		xb, err := plotter.NewXErrorBars(pts)
		if err != nil {
			return fmt.Errorf("series %s error bars: %w", sr.Label, err)
		}
		bars = append(bars, xb)
	}
	p.Add(line, scatter)
	for _, b := range bars {
		styleErrorBars(b, st.color, f.style)
		p.Add(b)
	}
	f.addLegend(sr.Label, line, scatter)
	f.Points += pts.Len()
	if !slices.Contains(f.Series, sr.Label) {
		f.Series = append(f.Series, sr.Label)
	}
	if f.panelPoints == nil {
		f.panelPoints = map[*plot.Plot]int{}
	}
	f.panelPoints[p] += pts.Len()
	f.Data = append(f.Data, sr)
	return nil
}

// styleErrorBars gives error bars (X or Y) the series' colour and the style's widths.
func styleErrorBars(b plot.Plotter, c color.Color, st Style) {
	width, cw := st.Line*0.8, vg.Length(float64(st.Marker)*1.4)
	switch b := b.(type) {
	case *plotter.YErrorBars:
		b.Color, b.Width, b.CapWidth = c, width, cw
	case *plotter.XErrorBars:
		b.Color, b.Width, b.CapWidth = c, width, cw
	}
}

// addRate adds a rate with its standard error, the error bar clipped to [0, 1] (a rate's
// range).
func (e *errPoints) addRate(x, xse, y, yse float64) {
	e.add(x, y, math.Min(xse, x), math.Min(xse, 1-x), math.Min(yse, y), math.Min(yse, 1-y))
}

// coincidences names, per panel, the series that draw exactly the same points (one hides
// the other), e.g. "env exact: zhang-I = zhang-III".
func (f *Figure) coincidences(name func(Series) string) []string {
	var out []string
	for i, a := range f.Data {
		var same []string
		for j, b := range f.Data {
			if b.Panel == a.Panel && slices.Equal(a.X, b.X) && slices.Equal(a.Y, b.Y) {
				if j < i {
					same = nil // reported with the first of the group
					break
				}
				if j > i {
					same = append(same, name(b))
				}
			}
		}
		if len(same) > 0 {
			out = append(out, fmt.Sprintf("%s: %s", a.Panel, strings.Join(append([]string{name(a)}, same...), " = ")))
		}
	}
	return out
}

// noteCoincidences adds a legend note per group of curves that draw identical points (one
// covers the other), naming the panels where they do ("every panel" when all).
func (f *Figure) noteCoincidences(name func(Series) string) {
	var groups []string
	panels := map[string][]string{}
	all := map[string]bool{}
	for _, s := range f.Data {
		all[s.Panel] = true
	}
	for _, c := range f.coincidences(name) {
		panel, same, _ := strings.Cut(c, ": ")
		if panels[same] == nil {
			groups = append(groups, same)
		}
		panels[same] = append(panels[same], panel)
	}
	for _, same := range groups {
		where := "in " + strings.Join(panels[same], ", ")
		if len(panels[same]) == len(all) {
			where = "in every panel"
		}
		if len(all) == 1 {
			where = ""
		}
		f.addNote(strings.TrimSpace(fmt.Sprintf("identical curves (one drawn over the other) %s: %s", where, same)))
	}
}

// refLine draws a straight reference line from (x0,y0) to (x1,y1) and names it in the legend.
func (f *Figure) refLine(p *plot.Plot, x0, y0, x1, y1 float64, label string, c color.Color, dashes []vg.Length) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: toLogY(p, y0)}, {X: x1, Y: toLogY(p, y1)}})
	if err != nil {
		return fmt.Errorf("reference line %s: %w", label, err)
	}
	l.Color = c
	l.Width = f.style.Line
	l.Dashes = dashes
	p.Add(l)
	f.addLegend(label, l)
	return nil
}

// labelAt writes text at a data point of p (annotations such as the published break-even).
func (f *Figure) labelAt(p *plot.Plot, x, y float64, s string, c color.Color, xAlign text.XAlignment) error {
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: x, Y: toLogY(p, y)}}, Labels: []string{s}})
	if err != nil {
		return fmt.Errorf("label %q: %w", s, err)
	}
	l.TextStyle[0].Font.Size = f.style.Tick
	l.TextStyle[0].Color = c
	l.TextStyle[0].XAlign = xAlign
	l.Offset = vg.Point{X: vg.Points(2), Y: vg.Points(2)}
	if xAlign == text.XRight {
		l.Offset.X = -vg.Points(2)
	}
	p.Add(l)
	return nil
}

// newPlot is an empty panel in the figure's style.
func (f *Figure) newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = f.style.Title
	p.Title.Padding = vg.Points(3)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = f.style.Label
		a.Label.Padding = vg.Points(2)
		a.Tick.Label.Font.Size = f.style.Tick
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

// layout places panels in a grid of at most maxCols columns (fewer if the style allows
// fewer) at the style's full width, each panel PanelAspect as high as it is wide.
func (f *Figure) layout(panels []*plot.Plot, maxCols int) {
	f.Panels = gridOf(panels, max(1, min(maxCols, f.style.MaxCols)))
	f.sizeGrid()
}

// sizeGrid sizes the figure for its panel grid (full width unless one panel).
func (f *Figure) sizeGrid() {
	cols := 0
	for _, r := range f.Panels {
		cols = max(cols, len(r))
	}
	cols = max(cols, 1)
	f.Width = f.style.Width
	if cols == 1 && len(f.Panels) == 1 {
		f.Width = f.style.SingleWidth
	}
	aspect := f.aspect
	if aspect == 0 {
		aspect = f.style.PanelAspect
	}
	panelH := float64(f.Width) / float64(cols) * aspect
	if cols == 1 {
		panelH = math.Min(panelH, float64(f.style.Width)*0.62)
	}
	// Room for the title and the axis labels, which do not shrink with the panel.
	panelH = math.Max(panelH, float64(4*(f.style.Title+f.style.Label+f.style.Tick)))
	f.Height = vg.Length(panelH * float64(max(1, len(f.Panels))))
	// As many labelled decades on a log x axis as the panel's width holds.
	for _, row := range f.Panels {
		for _, p := range row {
			if _, ok := p.X.Tick.Marker.(decadeTicks); ok {
				p.X.Tick.Marker = decadeTicks{labels: max(2, int(float64(f.Width)/float64(cols)/float64(4*f.style.Tick)))}
			}
		}
	}
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
// multiples in between without labels, so wide log axes stay legible. labels is the most
// labelled decades the axis has room for (0: 8).
type decadeTicks struct{ labels int }

func (d decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	e0, e1 := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	every := 1 + (e1-e0)/8
	if d.labels > 1 {
		every = max(1, (e1-e0+d.labels-2)/(d.labels-1))
	}
	// Labels count down from the largest power of ten in range, so the top tick is labelled.
	eTop := int(math.Floor(math.Log10(hi) + 1e-9))
	var ticks []plot.Tick
	for e := e0; e <= e1; e++ {
		base := math.Pow(10, float64(e))
		if base >= lo && base <= hi {
			label := ""
			if (eTop-e)%every == 0 {
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

// decadeRange rounds [lo, hi] out to whole powers of ten, so both ends of a log axis carry a
// labelled tick (lo and hi > 0).
func decadeRange(lo, hi float64) (float64, float64) {
	e0, e1 := math.Floor(math.Log10(lo)+1e-9), math.Ceil(math.Log10(hi)-1e-9)
	if e1 <= e0 {
		e1 = e0 + 1
	}
	// The tick labeller labels every (1 + span/8)-th decade down from the top: extend the
	// bottom to a labelled decade.
	span := int(e1 - e0)
	every := 1 + span/8
	e0 -= float64((every - span%every) % every)
	return math.Pow(10, e0), math.Pow(10, e1)
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

// legendLayout is where the shared legend goes: series entries fill columns of equal width
// (as many as the figure's width holds), then each note gets a line of its own.
type legendLayout struct {
	entries          []legendEntry
	notes            []string // note lines, wrapped to the figure's width
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

func (f *Figure) legendStyle() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font.Size = f.style.Legend
	l.Top, l.Left = true, true
	l.ThumbnailWidth = legendThumb
	l.Padding = vg.Points(1.5)
	return l
}

func (f *Figure) legendLayout() legendLayout {
	var lay legendLayout
	sty := f.legendStyle().TextStyle
	for _, e := range f.legend {
		if len(e.thumbs) == 0 {
			lay.notes = append(lay.notes, wrapText(e.label, f.Width-2*legendPad, sty.Width)...)
		} else {
			lay.entries = append(lay.entries, e)
		}
	}
	if len(f.legend) == 0 {
		return lay
	}
	l := f.legendStyle()
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

// wrapText breaks s at spaces into lines no wider than w (a word longer than w gets a line
// of its own).
func wrapText(s string, w vg.Length, width func(string) vg.Length) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && width(line+" "+word) > w {
			lines = append(lines, line)
			line = word
			continue
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
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
		f.sizeGrid()
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
		l := f.legendStyle()
		for i := col * lay.rows; i < min(len(lay.entries), (col+1)*lay.rows); i++ {
			l.Add(lay.entries[i].label, lay.entries[i].thumbs...)
		}
		x := left + vg.Length(col)*lay.colWidth
		l.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: dc.Min.Y + legendPad},
			Max: vg.Point{X: x + lay.colWidth, Y: top},
		}})
	}
	sty := f.legendStyle().TextStyle
	sty.XAlign = text.XCenter
	descent := sty.FontExtents().Descent
	for i, n := range lay.notes {
		y := top - vg.Length(lay.rows+i+1)*lay.entryHeight - descent + f.legendStyle().Padding
		dc.FillText(sty, vg.Point{X: dc.Min.X + width/2, Y: y}, n)
	}
}

// Save writes the figure as DIR/NAME.{png,svg,pdf} and its caption as DIR/NAME.md,
// atomically, and returns the paths.
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
	name := filepath.Join(dir, f.Name+".md")
	if err := writeFileAtomic(name, f.CaptionMarkdown()); err != nil {
		return nil, err
	}
	return append(paths, name), nil
}

// CaptionMarkdown is the figure's caption for a paper or a report, from the same rows as the
// figure: what it shows, how to read it (the legend's notes), the measured values it
// annotates.
func (f *Figure) CaptionMarkdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s.** %s\n", f.Name, strings.TrimSpace(f.Caption))
	var notes []string
	for _, e := range f.legend {
		if len(e.thumbs) == 0 {
			notes = append(notes, e.label)
		}
	}
	notes = append(notes, f.Notes...)
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	fmt.Fprintf(&b, "\n%d series, %d points, all computed from results.csv (`pollab figures DIR` redraws them).\n", len(f.Data), f.Points)
	return []byte(b.String())
}
