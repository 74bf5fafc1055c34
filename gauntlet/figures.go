package gauntlet

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figures are drawn with gonum/plot directly (PNG), from the report's rows only.
var figureNames = []string{"reward_share.png", "reward_per_flop.png", "fingerprint.png", "global_loss.png", "noise_reward.png"}

// FigureNames lists the files DrawFigures writes.
func FigureNames() []string { return slices.Clone(figureNames) }

// DrawFigures writes the figures of a report into dir.
func DrawFigures(r *Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	draws := []func(*Report) (*plot.Plot, error){rewardShareFig, rewardPerFLOPFig, fingerprintFig, globalLossFig, noiseRewardFig}
	for i, d := range draws {
		p, err := d(r)
		if err != nil {
			return fmt.Errorf("figure %s: %w", figureNames[i], err)
		}
		p.Legend.TextStyle.Font.Size = vg.Points(7)
		if err := p.Save(6*vg.Inch, 4*vg.Inch, filepath.Join(dir, figureNames[i])); err != nil {
			return fmt.Errorf("figure %s: %w", figureNames[i], err)
		}
	}
	return nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	return p
}

// labels in population order.
func (r *Report) labels() []string {
	var out []string
	for _, p := range r.Spec.Population(Mixed) {
		if !slices.Contains(out, p.Label()) {
			out = append(out, p.Label())
		}
	}
	return out
}

// palette: Tableau 10 plus black, so eleven peer types get eleven colours.
var palette = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255}, {0, 0, 0, 255}}

func colour(i int) color.Color { return palette[i%len(palette)] }

func addLine(p *plot.Plot, i int, label string, xy plotter.XYs) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color = colour(i)
	l.Dashes = plotutil.Dashes(i / len(palette))
	l.Width = vg.Points(1.2)
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

// rewardShareFig: each peer type's cumulative share of the emission paid so far, mean over seeds.
func rewardShareFig(r *Report) (*plot.Plot, error) {
	p := newPlot("Gauntlet: cumulative reward share per peer type (mixed, mean over seeds)", "window", "share of emission paid so far")
	W := r.Spec.Windows
	for li, l := range r.labels() {
		xy := make(plotter.XYs, W)
		for _, seed := range r.Spec.Seeds {
			var mine, all float64
			for w := range W {
				for _, row := range r.Peers {
					if row.Scenario == Mixed && row.Seed == seed && row.Window == w {
						all += row.Weight
						if row.Label == l {
							mine += row.Weight
						}
					}
				}
				if all > 0 {
					xy[w].Y += mine / all / float64(len(r.Spec.Seeds))
				}
				xy[w].X = float64(w)
			}
		}
		if err := addLine(p, li, l, xy); err != nil {
			return nil, err
		}
	}
	p.Legend.Top = true
	return p, nil
}

// rewardPerFLOPFig: reward per peer against compute per peer, log-log; the diagonal through
// the honest point is the honest reward per FLOP (above it: more reward per FLOP than honest
// training). Zero compute or zero reward is drawn at the axis floor.
func rewardPerFLOPFig(r *Report) (*plot.Plot, error) {
	const xFloor, yFloor = 1e4, 1e-5
	p := newPlot("Gauntlet: reward vs compute per peer (mixed, all seeds)",
		"FLOPs per peer per window (none: at 1e4)", "reward per peer per window (none: at 1e-5)")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	var honest plotter.XY
	for i, k := range r.Summary.Kinds {
		pt := plotter.XY{X: math.Max(k.FLOPsPerWindow, xFloor), Y: math.Max(float64(k.RewardShare)/float64(k.Peers), yFloor)}
		s, err := plotter.NewScatter(plotter.XYs{pt})
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Color = colour(i)
		s.GlyphStyle.Shape = plotutil.Shape(i)
		s.GlyphStyle.Radius = vg.Points(3.5)
		p.Add(s)
		p.Legend.Add(k.Label, s)
		if k.Kind == Honest {
			honest = pt
		}
	}
	if honest.X > xFloor && honest.Y > yFloor {
		var xy plotter.XYs
		for e := 4.0; e <= 9.0; e += 0.25 {
			x := math.Pow(10, e)
			if y := honest.Y * x / honest.X; y >= yFloor && y <= 1 {
				xy = append(xy, plotter.XY{X: x, Y: y})
			}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		l.Color = color.Gray{Y: 110}
		p.Add(l)
		p.Legend.Add("honest reward per FLOP", l)
	}
	return p, nil // legend bottom right, where no peer type lies
}

// fingerprintFig: the binary fingerprint b per peer type over windows, mean over peers and seeds.
func fingerprintFig(r *Report) (*plot.Plot, error) {
	p := newPlot("Gauntlet: own-data fingerprint b per peer type (mixed, mean)", "window", "b (score is 0 while b <= 0)")
	W := r.Spec.Windows
	for li, l := range r.labels() {
		sum := make([]float64, W)
		cnt := make([]float64, W)
		for _, row := range r.Peers {
			if row.Scenario == Mixed && row.Label == l {
				sum[row.Window] += row.Binary
				cnt[row.Window]++
			}
		}
		xy := make(plotter.XYs, W)
		for w := range W {
			xy[w] = plotter.XY{X: float64(w), Y: sum[w] / math.Max(cnt[w], 1)}
		}
		if err := addLine(p, li, l, xy); err != nil {
			return nil, err
		}
	}
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: float64(W - 1), Y: 0}})
	if err != nil {
		return nil, err
	}
	zero.Color = color.Gray{Y: 150}
	p.Add(zero)
	p.Legend.Top = true
	p.Legend.Left = true
	return p, nil
}

// globalLossFig: the global model's test loss per scenario, mean over seeds.
func globalLossFig(r *Report) (*plot.Plot, error) {
	p := newPlot("Global model test loss: with cheaters, honest peers only, data-parallel SGD", "window", "test cross-entropy (mean over seeds)")
	names := map[string]string{Mixed: "Gauntlet, all peer types", HonestOnly: "Gauntlet, honest peers only", DataParallel: "data-parallel SGD, same batches"}
	for si, sc := range Scenarios {
		xy := make(plotter.XYs, r.Spec.Windows)
		for _, g := range r.Global {
			if g.Scenario == sc {
				xy[g.Window].X = float64(g.Window)
				xy[g.Window].Y += g.TestLoss / float64(len(r.Spec.Seeds))
			}
		}
		if err := addLine(p, si, names[sc], xy); err != nil {
			return nil, err
		}
	}
	p.Legend.Top = true
	return p, nil
}

// noiseRewardFig: each free-rider's reward per window against its noise level, per seed
// and mean, with the honest peers' mean for reference.
func noiseRewardFig(r *Report) (*plot.Plot, error) {
	p := newPlot("Free-rider: copied update + noise, reward against noise level", "noise std (multiple of the copied update's rms)", "reward per peer, × an honest peer's")
	var mean plotter.XYs
	for _, k := range r.Summary.Kinds {
		if k.Kind == FreeRider {
			mean = append(mean, plotter.XY{X: k.Param, Y: float64(k.RewardVsHonest)})
		}
	}
	if len(mean) == 0 {
		return p, nil
	}
	lp, pts, err := plotter.NewLinePoints(mean)
	if err != nil {
		return nil, err
	}
	pts.Shape = draw.CircleGlyph{}
	p.Add(lp, pts)
	p.Legend.Add("free-rider (all seeds)", lp, pts)
	one, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 1}, {X: mean[len(mean)-1].X, Y: 1}})
	if err != nil {
		return nil, err
	}
	one.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
	p.Add(one)
	p.Legend.Add("honest peer", one)
	p.Legend.Top = true
	return p, nil
}
