package experiments

import (
	"math"
	"slices"
	"strings"
	"testing"

	"pollab/stats"
)

// gridRows returns one normalised row per delta, in the given order.
func gridRows(deltas ...float64) []*Row {
	var rows []*Row
	for _, d := range deltas {
		r := replayed(Row{Kind: KindBlindfold}, l2Replay(d, true), stats.Distances{L2: 1})
		rows = append(rows, &r)
	}
	return rows
}

// TestFig5PanelDeltas: fig5's panels sit at the grid values nearest (in log) to 0.002, 0.004,
// 0.008 and 0.016, each once, ties to the tighter value, whatever the rows' order.
func TestFig5PanelDeltas(t *testing.T) {
	paper := []float64{1e-9, 1e-5, 1e-4, 3e-4, 1e-3, 0.002, 0.004, 0.008, 0.016, 0.032, 1}
	demo := []float64{1e-9, 1e-4, 3e-4, 1e-3, 0.003, 0.008, 0.02, 0.05, 1}
	cases := []struct {
		name       string
		grid, want []float64
	}{
		{"paper grid", paper, []float64{0.002, 0.004, 0.008, 0.016}},
		{"demo grid", demo, []float64{0.003, 0.008, 0.02}},
		{"one delta", []float64{0.1}, []float64{0.1}},
		// 0.002 is as far from 0.001 as from 0.004 (a factor 2): the tighter wins.
		{"tie", []float64{0.001, 0.004}, []float64{0.001, 0.004}},
		{"no rows", nil, nil},
	}
	for _, c := range cases {
		for _, order := range []string{"ascending", "descending"} {
			grid := slices.Clone(c.grid)
			if order == "descending" {
				slices.Reverse(grid)
			}
			wanted, got := fig5PanelDeltas(gridRows(grid...))
			if !slices.Equal(got, c.want) {
				t.Errorf("%s, %s: panels at %v, want %v", c.name, order, got, c.want)
			}
			if len(wanted) != 4 || wanted[2] != ReferenceNormalizedDelta {
				t.Errorf("%s: wanted deltas %v", c.name, wanted)
			}
		}
	}
}

// TestTightestHonestDelta: the smallest delta from which on no honest row is rejected.
func TestTightestHonestDelta(t *testing.T) {
	row := func(d float64, ok bool) *Row {
		r := replayed(Row{Kind: KindHonest, Accepted: ok}, l2Replay(d, true), stats.Distances{L2: 1})
		return &r
	}
	cases := []struct {
		name string
		rows []*Row
		want float64
	}{
		{"all accepted", []*Row{row(0.1, true), row(1e-9, true), row(0.01, true)}, 1e-9},
		{"one seed rejected at 0.01", []*Row{row(1e-3, false), row(0.01, true), row(0.01, false), row(0.1, true)}, 0.1},
		// An accepted tight delta below a rejected one does not count: the verifier needs
		// every honest proof to pass from its delta up.
		{"non-monotone", []*Row{row(1e-3, true), row(0.01, false), row(0.1, true)}, 0.1},
		{"rejected at the loosest", []*Row{row(0.01, true), row(0.1, false)}, math.NaN()},
		{"no rows", nil, math.NaN()},
	}
	for _, c := range cases {
		got := tightestHonestDelta(honestRejections(c.rows))
		if !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestFig5MarksDeltasThatRejectHonestProofs: a panel whose delta rejects an honest proof of
// the drawn env says so, and the note names the tightest delta honest proofs all pass.
func TestFig5MarksDeltasThatRejectHonestProofs(t *testing.T) {
	rows := syntheticRows()
	for i := range rows {
		r := &rows[i]
		if r.Kind == KindHonest && r.Env == "exact" && r.Metric() == "l2" && r.Normalized() && r.DeltaNorm() <= 1e-3 && r.Seed == 2 {
			r.Accepted = false
		}
	}
	fig5, err := BuildFigure("fig5_blindfold", rows, testStyle())
	if err != nil {
		t.Fatal(err)
	}
	var marked []string
	for _, p := range fig5.Panels[0] {
		if strings.Contains(p.Title.Text, "rejects honest") {
			marked = append(marked, p.Title.Text)
		}
	}
	if want := []string{"delta = 0.001 l2/d_ref (rejects honest)"}; !slices.Equal(marked, want) {
		t.Errorf("marked panels %q, want %q", marked, want)
	}
	if !slices.ContainsFunc(fig5.LegendLabels(), func(l string) bool { return strings.HasSuffix(l, "from delta = 0.008 up") }) {
		t.Errorf("fig5 notes lack the tightest honest delta 0.008: %q", fig5.LegendLabels())
	}
}

// figureNamed returns the figure of that name among figs.
func figureNamed(t *testing.T, figs []*Figure, name string) *Figure {
	t.Helper()
	i := slices.IndexFunc(figs, func(f *Figure) bool { return f.Name == name })
	if i < 0 {
		t.Fatalf("no figure %s among %d", name, len(figs))
	}
	return figs[i]
}

// TestFigureRegistry: figures are registered by name, built by name, and an unknown name is
// an error that lists the registered ones.
func TestFigureRegistry(t *testing.T) {
	names := FigureNames()
	if !slices.IsSorted(names) || !slices.Contains(names, "fig1_trap") {
		t.Fatalf("registered figures %q", names)
	}
	for _, name := range names {
		f, err := BuildFigure(name, syntheticRows(), testStyle())
		if err != nil || f.Name != name {
			t.Fatalf("BuildFigure(%s): %v, %v", name, f, err)
		}
	}
	if _, err := BuildFigure("fig9_nope", nil, testStyle()); err == nil || !strings.Contains(err.Error(), "fig1_trap") {
		t.Fatalf("unknown figure: %v", err)
	}
}

// testStyle is the default figure style.
func testStyle() Style {
	s, err := StyleNamed(DefaultStyle)
	if err != nil {
		panic(err)
	}
	return s
}
