package experiments

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func init() { registerFigure("fig7_matrix", (*figureContext).fig7Matrix) }

// fig7Matrix: the attack × defence matrix, one panel per env. A row per proof kind (the
// forgeries with their cost over honest training, then the honest proofs), a column per
// defence; each cell reads accepted/proofs and is shaded by the verifier's failure rate in
// it: the spoof-accept rate of a forgery kind, the false-reject rate of honest proofs.
func (fc *figureContext) fig7Matrix() (*Figure, error) {
	f := fc.newFigure()
	m := fc.matrix
	if m == nil {
		return f, nil
	}
	var forged []string
	for _, k := range m.Kinds {
		if k != KindHonest {
			forged = append(forged, k)
		}
	}
	var panels []*plot.Plot
	for _, env := range m.Envs {
		p := f.newPlot("env "+env, "defence (at its operating point)", "proof kind")
		cells := &matrixCells{style: p.X.Tick.Label}
		var yticks []plot.Tick
		addRow := func(y int, kind, label string) {
			// Not a kind's curve: its colour is the cells' shading (Key "cell:", not "kind:").
			sr := Series{Label: label, Key: "cell:" + kind, Kind: kind, Env: env}
			for x, d := range m.Defences {
				c := m.Cell(kind, env, d)
				if c == nil {
					continue
				}
				fail := c.Rate()
				if kind == KindHonest {
					fail = 1 - fail
				}
				cells.add(float64(x), float64(y), fail, fmt.Sprintf("%d/%d", c.Accepted, c.Proofs))
				sr.X, sr.Y = append(sr.X, float64(x)), append(sr.Y, c.Rate())
			}
			yticks = append(yticks, plot.Tick{Value: float64(y), Label: label})
			f.Data = append(f.Data, sr)

		}
		// Forgeries top down in the matrix's order, honest proofs at the bottom.
		for i, kind := range forged {
			cost := math.NaN()
			for _, d := range m.Defences {
				if c := m.Cell(kind, env, d); c != nil {
					cost = c.Cost
				}
			}
			addRow(len(forged)-i, kind, fmt.Sprintf("%s (cost %s)", kind, fmtNum(cost)))
		}
		if slices.Contains(m.Kinds, KindHonest) {
			addRow(0, KindHonest, "honest (accepted)")
		}
		var xticks []plot.Tick
		for x, d := range m.Defences {
			xticks = append(xticks, plot.Tick{Value: float64(x), Label: d})
		}
		p.X.Tick.Marker, p.Y.Tick.Marker = plot.ConstantTicks(xticks), plot.ConstantTicks(yticks)
		p.X.Tick.Label.Rotation, p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = math.Pi/6, text.XRight, text.YTop
		p.X.Min, p.X.Max = -0.5, float64(len(m.Defences))-0.5
		p.Y.Min, p.Y.Max = -0.5, float64(len(forged))+0.5
		p.X.Padding, p.Y.Padding = 0, 0
		p.Add(cells)
		f.Points += len(cells.cells)
		if f.panelPoints == nil {
			f.panelPoints = map[*plot.Plot]int{}
		}
		f.panelPoints[p] += len(cells.cells)
		panels = append(panels, p)
	}
	f.Caption = "Attack × defence matrix: per reproduction env (panel), each forgery kind (rows, with its cost in FLOPs over " +
		"honest training of the target) against each defence at its operating point (columns); a cell reads accepted proofs / " +
		"proofs. Shading is the verifier's failure rate in the cell: the spoof-accept rate of a forgery kind, the false-reject " +
		"rate of the honest proofs (bottom row, which reads honest proofs accepted). matrix.md lists the rejecting checks and " +
		"the verifier's cost, matrix.csv every cell's proofs."
	// The legend is the shading scale.
	for _, fail := range []float64{0, 0.5, 1} {
		label := fmt.Sprintf("verifier fails in %.0f%% of the cell's proofs", 100*fail)
		f.addLegend(label, shade(fail))
		f.Series = append(f.Series, label)
	}
	f.addNote("fails: a forgery accepted, or an honest proof rejected")
	f.aspect = float64(len(forged)+1) / float64(max(len(m.Defences), 1))
	f.layout(panels, 1)
	return f, nil
}

// shade is the grey of a cell whose verifier fails at rate fail (white: never, near black:
// always), as a legend thumbnail too.
type shade float64

func (s shade) gray() color.Gray {
	return color.Gray{Y: uint8(math.Round(255 * (1 - 0.85*float64(s))))}
}

// Thumbnail implements plot.Thumbnailer.
func (s shade) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(s.gray(), pts)
	c.StrokeLines(draw.LineStyle{Color: color.Gray{Y: 160}, Width: vg.Points(0.4)}, append(pts, pts[0]))
}

// matrixCells draws the cells of one matrix panel: unit squares centred on (x, y), shaded by
// a failure rate in [0, 1] (white to black, so it reads in greyscale), with their text.
type matrixCells struct {
	style text.Style
	cells []matrixCell
}

type matrixCell struct {
	x, y, fail float64
	label      string
}

func (m *matrixCells) add(x, y, fail float64, label string) {
	m.cells = append(m.cells, matrixCell{x: x, y: y, fail: fail, label: label})
}

// Plot implements plot.Plotter.
func (m *matrixCells) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	for _, cell := range m.cells {
		g := shade(cell.fail).gray()
		pts := []vg.Point{
			{X: trX(cell.x - 0.5), Y: trY(cell.y - 0.5)}, {X: trX(cell.x + 0.5), Y: trY(cell.y - 0.5)},
			{X: trX(cell.x + 0.5), Y: trY(cell.y + 0.5)}, {X: trX(cell.x - 0.5), Y: trY(cell.y + 0.5)},
		}
		c.FillPolygon(g, pts)
		c.StrokeLines(draw.LineStyle{Color: color.Gray{Y: 160}, Width: vg.Points(0.4)}, append(pts, pts[0]))
		sty := m.style
		sty.Rotation, sty.XAlign, sty.YAlign = 0, text.XCenter, text.YCenter
		if g.Y < 128 {
			sty.Color = color.White
		}
		c.FillText(sty, vg.Point{X: trX(cell.x), Y: trY(cell.y)}, cell.label)
	}
}

// DataRange implements plot.DataRanger.
func (m *matrixCells) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, c := range m.cells {
		xmin, xmax = math.Min(xmin, c.x-0.5), math.Max(xmax, c.x+0.5)
		ymin, ymax = math.Min(ymin, c.y-0.5), math.Max(ymax, c.y+0.5)
	}
	return xmin, xmax, ymin, ymax
}
