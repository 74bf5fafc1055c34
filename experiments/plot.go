package experiments

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"

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
