package experiments

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// committedRows reads a committed results CSV (results/<name>/results.csv.gz).
func committedRows(t *testing.T, name string) []Row {
	t.Helper()
	p, err := FindResultsCSV(filepath.Join("..", "results", name))
	if err != nil {
		t.Skipf("no committed %s: %v", name, err)
	}
	rows, err := ReadCSVFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// figureDataSets are the row sets the data tests draw from: the synthetic table, the
// committed demo reference and a subset lacking some kinds and envs (styles must not depend
// on which others are present).
func figureDataSets(t *testing.T) map[string][]Row {
	syn := syntheticRows()
	sets := map[string][]Row{"synthetic": syn,
		"synthetic without exact and zhang-II": slices.DeleteFunc(slices.Clone(syn), func(r Row) bool { return r.Env == "exact" || r.Kind == "zhang-II" })}
	if !testing.Short() {
		sets["results/reference"] = committedRows(t, "reference")
	}
	return sets
}

// pointKey names one point of a rate curve: kind verified in env at verifier Q q with audit
// random audits, at normalised l2 delta d.
type pointKey struct {
	kind, env string
	q, audit  int
	d         float64
}

// csvRates counts, independently of the figure code, the accept rate behind every rate
// point: honest rows at the forgeries' target k only, and for a kind crafted at several gaps
// only the proofs crafted at Fang et al.'s 0.008.
func csvRates(rows []Row) map[pointKey][2]int {
	targetK := newFigureContext(rows, Style{}).targetK
	gap008 := map[string]bool{}
	for _, r := range rows {
		if r.AttackDelta == ReferenceNormalizedDelta {
			gap008[r.Kind] = true
		}
	}
	out := map[pointKey][2]int{}
	for _, r := range rows {
		if r.Metric() != "l2" || !r.Normalized() || (r.Kind == KindHonest && r.K != targetK) ||
			(gap008[r.Kind] && r.AttackDelta != ReferenceNormalizedDelta) {
			continue
		}
		k := pointKey{r.Kind, r.Env, r.Q, r.Audit, r.DeltaNorm()}
		c := out[k]
		c[1]++
		if r.Accepted {
			c[0]++
		}
		out[k] = c
	}
	return out
}

// rateAt is the accept rate at k and the rows behind it.
func rateAt(rates map[pointKey][2]int, k pointKey) (float64, int) {
	c := rates[k]
	return float64(c[0]) / float64(c[1]), c[1]
}

// TestFig1PanelsAreOneEnv: every curve of a fig1 panel was verified in the panel's env, every
// env has its panel, and every forgery kind is drawn in each.
func TestFig1PanelsAreOneEnv(t *testing.T) {
	for name, rows := range figureDataSets(t) {
		f, err := BuildFigure("fig1_trap", rows, testStyle())
		if err != nil {
			t.Fatal(err)
		}
		fc := newFigureContext(rows, testStyle())
		panels := map[string]bool{}
		for _, s := range f.Data {
			panels[s.Panel] = true
			if s.Panel != "env "+s.Env {
				t.Errorf("%s: series %q of env %s drawn in panel %q", name, s.Label, s.Env, s.Panel)
			}
		}
		for _, env := range fc.envs {
			var kinds []string
			for _, s := range f.Data {
				if s.Panel == "env "+env {
					kinds = append(kinds, s.Kind)
				}
			}
			if !slices.Contains(kinds, KindHonest) || len(kinds) != len(fc.kinds)+1 {
				t.Errorf("%s: panel env %s draws %q, want honest and %q", name, env, kinds, fc.kinds)
			}
		}
		if len(panels) != len(fc.envs) {
			t.Errorf("%s: %d panels for envs %q", name, len(panels), fc.envs)
		}
	}
}

// TestTrapFiguresMatchCSV: every point of fig1 (per env, at the verifier's Q) and fig1b (per Q)
// is the rate counted from the CSV at exactly that delta: nothing shifted, nothing rounded.
func TestTrapFiguresMatchCSV(t *testing.T) {
	for name, rows := range figureDataSets(t) {
		q := summaryQ(rows)
		rates := csvRates(rows)
		for _, fig := range []string{"fig1_trap", "fig1b_trap_by_q"} {
			f, err := BuildFigure(fig, rows, testStyle())
			if err != nil {
				t.Fatal(err)
			}
			points := 0
			for _, s := range f.Data {
				sq := q
				if fig == "fig1b_trap_by_q" {
					sq = panelQ(t, s.Panel)
				}
				for i, x := range s.X {
					p, n := rateAt(rates, pointKey{s.Kind, s.Env, sq, 0, x})
					if s.Kind == KindHonest {
						p = 1 - p
					}
					if n == 0 || s.Y[i] != p {
						t.Fatalf("%s %s %q %q at delta %g: drawn %v, CSV %v over %d rows", name, fig, s.Panel, s.Label, x, s.Y[i], p, n)
					}
					points++
				}
			}
			if points == 0 || points != f.Points {
				t.Errorf("%s %s: checked %d of %d points", name, fig, points, f.Points)
			}
		}
	}
}

// panelQ reads the verifier Q back from a fig1b panel title.
func panelQ(t *testing.T, title string) int {
	if strings.Contains(title, "every interval") {
		return 0
	}
	var q int
	if _, err := fmt.Sscanf(title, "verifier checks top-%d per epoch", &q); err != nil {
		t.Fatalf("panel %q: %v", title, err)
	}
	return q
}

// TestTradeOffAndBlindfoldMatchCSV: fig2's points are (honest false-reject, spoof-accept)
// pairs at one delta and fig5's the Blindfold accept rate at one Q, both exactly as counted
// from the CSV (the old 0.025 and 0.1 offsets are gone).
func TestTradeOffAndBlindfoldMatchCSV(t *testing.T) {
	for name, rows := range figureDataSets(t) {
		fc := newFigureContext(rows, testStyle())
		rates := csvRates(rows)
		deltas := sortedKeys(deltasOf(rows))
		f, err := BuildFigure("fig2_tradeoff", rows, testStyle())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Data {
			q := fc.qs[rankFromKey(t, s.Key)]
			// The pairs the CSV gives, one per delta with both honest and forged rows.
			var want [][2]float64
			for _, d := range deltas {
				h, nh := rateAt(rates, pointKey{KindHonest, s.Env, q, 0, d})
				a, na := rateAt(rates, pointKey{s.Kind, s.Env, q, 0, d})
				if nh > 0 && na > 0 {
					want = append(want, [2]float64{1 - h, a})
				}
			}
			var got [][2]float64
			for i := range s.X {
				got = append(got, [2]float64{s.X[i], s.Y[i]})
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s fig2 %q %q: drawn %v, CSV %v", name, s.Panel, s.Label, got, want)
			}
		}
		f5, err := BuildFigure("fig5_blindfold", rows, testStyle())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range f5.Data {
			var audit int
			if !strings.HasPrefix(s.Label, "top-Q only") {
				if _, err := fmt.Sscanf(s.Label, "top-Q + %d random", &audit); err != nil {
					t.Fatalf("fig5 label %q: %v", s.Label, err)
				}
			}
			var delta float64
			if _, err := fmt.Sscanf(s.Panel, "delta = %g", &delta); err != nil {
				t.Fatalf("fig5 panel %q: %v", s.Panel, err)
			}
			for i, x := range s.X {
				q := int(x)
				if x == float64(slices.Max(fc.qs)+1) {
					q = 0 // "all" sits one past the largest Q
				}
				if float64(q) != x && q != 0 {
					t.Fatalf("%s fig5: x %v is not a Q of the grid", name, x)
				}
				p, n := rateAt(rates, pointKey{KindBlindfold, fc.env, q, audit, delta})
				if n == 0 || s.Y[i] != p {
					t.Fatalf("%s fig5 %q %q at Q %d: drawn %v, CSV %v over %d rows", name, s.Panel, s.Label, q, s.Y[i], p, n)
				}
			}
		}
	}
}

func deltasOf(rows []Row) map[float64]bool {
	out := map[float64]bool{}
	for _, r := range rows {
		if r.Metric() == "l2" && r.Normalized() {
			out[r.DeltaNorm()] = true
		}
	}
	return out
}

func rankFromKey(t *testing.T, key string) int {
	var i int
	if _, err := fmt.Sscanf(key, "rank:%d", &i); err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	return i
}

// TestPaletteFixedPerKindAndEnv: a proof kind or an env has one colour and one marker in
// every figure, whatever else the CSV holds; kinds differ from each other in colour and
// marker (so greyscale print still tells them apart), and so do envs.
func TestPaletteFixedPerKindAndEnv(t *testing.T) {
	type look struct {
		c     string
		shape string
	}
	seen := map[string]look{}
	where := map[string]string{}
	for name, rows := range figureDataSets(t) {
		figs, err := BuildFigures(rows, testStyle())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range figs {
			for _, s := range f.Data {
				if !strings.HasPrefix(s.Key, "kind:") && !strings.HasPrefix(s.Key, "env:") {
					continue
				}
				l := look{fmt.Sprint(s.style.color), fmt.Sprintf("%T", s.style.shape)}
				if prev, ok := seen[s.Key]; ok && prev != l {
					t.Errorf("%s is %v in %s but %v in %s %s", s.Key, prev, where[s.Key], l, name, f.Name)
				}
				seen[s.Key], where[s.Key] = l, name+" "+f.Name
			}
		}
	}
	for _, key := range []string{"kind:honest", "kind:zhang-I", "kind:zhang-III", "kind:blindfold", "env:dtype"} {
		if _, ok := seen[key]; !ok {
			t.Errorf("no figure draws %s", key)
		}
	}
	for _, table := range []map[string]seriesStyle{kindStyles, envStyles} {
		colours, shapes := map[string]bool{}, map[string]bool{}
		for _, st := range table {
			c, sh := fmt.Sprint(st.color), fmt.Sprintf("%T", st.shape)
			if colours[c] || shapes[sh] {
				t.Errorf("style table reuses a colour or marker: %s %s", c, sh)
			}
			colours[c], shapes[sh] = true, true
		}
	}
	same := func(a, b seriesStyle) bool { return fmt.Sprint(a.color, a.shape) == fmt.Sprint(b.color, b.shape) }
	if !same(envStyle("microbatch:8"), envStyles["microbatch"]) || !same(envStyle("noise:1"), envStyles["noise"]) {
		t.Error("parametrised envs do not take their family's style")
	}
	if !slices.ContainsFunc(fallbackStyles, func(st seriesStyle) bool { return same(st, envStyle("new-env")) }) {
		t.Error("an env without a fixed style does not get a fallback style")
	}
}

// TestBreakEvenWhereTheCurveCrosses: fig4's legend gives where the plotted mean crosses 1,
// interpolated in log-log between the points around it (Zhang-II on MNIST: 0.16 at T'/T =
// 0.534%, 4.8 at 1.07%), not the linear per-step extrapolation; curves that never cross say
// so in words.
func TestBreakEvenWhereTheCurveCrosses(t *testing.T) {
	xs, ys := []float64{0.00534, 0.0107, 0.0214}, []float64{0.16, 4.8, 5.9}
	c := crossBreakEven(xs, ys)
	// log-log: log x* = log x0 + (0 - log y0)/(log y1 - log y0) (log x1 - log x0)
	want := math.Exp(math.Log(0.00534) + (-math.Log(0.16))/(math.Log(4.8)-math.Log(0.16))*(math.Log(0.0107)-math.Log(0.00534)))
	if c.state != "crosses" || math.Abs(c.x-want) > 1e-12 || !(c.x > 0.00534 && c.x < 0.0107) {
		t.Fatalf("crossing %+v, want x = %v", c, want)
	}
	for _, tc := range []struct {
		ys   []float64
		want string
	}{
		{[]float64{2, 3, 4}, "never cheaper at the plotted T'/T (0.534% and up)"},
		{[]float64{0.1, 0.2, 0.3}, "cheaper at every plotted T'/T (up to 2.14%)"},
		{[]float64{1, 3, 4}, "crosses break-even at T'/T = 0.534%"},
	} {
		if got := crossBreakEven(xs, tc.ys).label(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.ys, got, tc.want)
		}
	}
}

// TestNoBreakEvenAbovePercent: no break-even above 100% is printed as a percentage in the
// summary, fig4's legend, notes or caption (a forgery cheaper than honest training at T' = T
// has no break-even below T; saying "732%" hides that).
func TestNoBreakEvenAbovePercent(t *testing.T) {
	pct := regexp.MustCompile(`([0-9.]+(?:e[+-]?[0-9]+)?)%`)
	for name, rows := range figureDataSets(t) {
		f, err := BuildFigure("fig4_cost", rows, testStyle())
		if err != nil {
			t.Fatal(err)
		}
		text := []string{string(Summarize(rows).Markdown()), string(f.CaptionMarkdown())}
		text = append(append(text, f.LegendLabels()...), f.Notes...)
		found := 0
		for _, block := range text {
			for _, line := range strings.Split(block, "\n") {
				if !strings.Contains(line, "break-even") && !strings.HasPrefix(line, "| ") {
					continue
				}
				for _, m := range pct.FindAllStringSubmatch(line, -1) {
					v, err := strconv.ParseFloat(m[1], 64)
					if err != nil || v > 100 {
						t.Errorf("%s: %q prints a break-even of %s%%", name, line, m[1])
					}
					found++
				}
			}
		}
		if found == 0 {
			t.Errorf("%s: no break-even printed at all", name)
		}
	}
	if s := fmtBreakEven(7.32); strings.Contains(s, "%") || !strings.Contains(s, "cheaper than honest training at every T' <= T") {
		t.Errorf("break-even 732%%: %q", s)
	}
}
