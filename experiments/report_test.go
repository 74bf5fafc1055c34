package experiments

import (
	"bytes"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"

	"pollab/stats"
	"pollab/verifier"
)

// csvRoundTrip writes rows as results.csv and reads them back: the CSV and the rows read.
func csvRoundTrip(t *testing.T, rows []Row) ([]byte, []Row) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), back
}

func TestCSVRoundTrip(t *testing.T) {
	rows := syntheticRows()
	csv, back := csvRoundTrip(t, rows)
	if len(back) != len(rows) {
		t.Fatalf("read %d rows, wrote %d", len(back), len(rows))
	}
	var again bytes.Buffer
	if err := WriteCSV(&again, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(csv, again.Bytes()) {
		t.Fatal("CSV -> rows -> CSV is not byte-identical")
	}
	// Every documented column is present exactly once, then the matrix's defence label.
	header := strings.Split(strings.SplitN(string(csv), "\n", 2)[0], ",")
	if !reflect.DeepEqual(header, append(Columns(), ColumnDefence)) {
		t.Fatalf("header %v != Columns + %s", header, ColumnDefence)
	}
	// Without defence rows the header is Columns alone (committed results keep their bytes).
	var buf bytes.Buffer
	if err := WriteCSV(&buf, withoutDefences(rows)); err != nil {
		t.Fatal(err)
	}
	if header := strings.Split(strings.SplitN(buf.String(), "\n", 2)[0], ","); !reflect.DeepEqual(header, Columns()) {
		t.Fatalf("header without defence rows %v != Columns", header)
	}
}

func TestCSVFileGzipRoundTrip(t *testing.T) {
	rows := syntheticRows()
	dir := t.TempDir()
	gz := filepath.Join(dir, ResultsCSV+".gz")
	if err := WriteCSVFile(gz, rows); err != nil {
		t.Fatal(err)
	}
	found, err := FindResultsCSV(dir)
	if err != nil || found != gz {
		t.Fatalf("FindResultsCSV = %q, %v; want %q", found, err, gz)
	}
	back, err := ReadCSVFile(found)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := WriteCSV(&a, rows); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(&b, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("gzipped CSV does not round-trip")
	}
	if _, err := FindResultsCSV(t.TempDir()); err == nil {
		t.Fatal("FindResultsCSV found a CSV in an empty directory")
	}
}

func TestReadCSVRejectsMalformed(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, syntheticRows()[:1]); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(buf.String(), ",f32,", ",f32,notanumber-", 1)
	if _, err := ReadCSV(strings.NewReader(bad)); err == nil {
		t.Fatal("a non-numeric params column was accepted")
	}
	if _, err := ReadCSV(strings.NewReader("experiment,kind\nx,honest\n")); err == nil {
		t.Fatal("a CSV missing columns was accepted")
	}
	// The registered checks' columns are validated too, each by its own Kind's parser.
	for column, value := range map[string]string{"metric": "l3", "delta": "abc", "normalized": "yes", "delta_norm": "0.0.1", "d_ref": "x"} {
		recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(recs[0], column)
		if i < 0 {
			t.Fatalf("no %s column in %v", column, recs[0])
		}
		recs[1][i] = value
		var bad bytes.Buffer
		w := csv.NewWriter(&bad)
		_ = w.WriteAll(recs) // a bytes.Buffer does not fail
		_, err = ReadCSV(&bad)
		if err == nil || !strings.Contains(err.Error(), "column "+column) {
			t.Errorf("%s = %q: err %v, want an error naming the column", column, value, err)
		}
	}
}

// TestSummaryFromCSV recomputes summary numbers by hand from the CSV's rows.
func TestSummaryFromCSV(t *testing.T) {
	_, rows := csvRoundTrip(t, syntheticRows())
	s := Summarize(rows)
	if s.Metric != "l2" || s.Q != 1 {
		t.Fatalf("summary metric/Q = %s/%d, want l2/1", s.Metric, s.Q)
	}
	get := func(kind, env string) SummaryRow {
		for _, r := range s.Rows {
			if r.Kind == kind && r.Env == env {
				return r
			}
		}
		t.Fatalf("no summary row for %s/%s", kind, env)
		return SummaryRow{}
	}

	// accepted_ref for honest in noise:0.01, counted directly from the rows.
	yes, n := 0, 0
	for _, r := range rows {
		if r.Kind == KindHonest && r.Env == "noise:0.01" && r.Metric() == MetricAll && !r.Normalized() && r.Q == 1 && r.Audit == 0 {
			n++
			if r.Accepted {
				yes++
			}
		}
	}
	if got := get(KindHonest, "noise:0.01").AcceptedRef; n == 0 || got != float64(yes)/float64(n) {
		t.Fatalf("honest noise accepted_ref = %v, want %d/%d", got, yes, n)
	}

	// Cost fraction of zhang-II: mean over its distinct proofs.
	sum, ids := 0.0, map[string]bool{}
	for _, r := range rows {
		if r.Kind == "zhang-II" && !ids[r.ProofID] {
			ids[r.ProofID] = true
			sum += r.CostFraction
		}
	}
	if got, want := get("zhang-II", "exact").CostFraction, sum/float64(len(ids)); math.Abs(got-want) > 1e-12*want {
		t.Fatalf("zhang-II cost fraction = %v, want %v", got, want)
	}

	// Separation in the exact env: honest proofs reproduce exactly (threshold 0, so the
	// smallest grid delta accepts them all), while zhang-II first passes at its least error,
	// read here from the CSV rows the summary policy (l2, Q = 1, no audit) decides on.
	least := math.Inf(1)
	for _, r := range rows {
		if r.Kind == "zhang-II" && r.Env == "exact" && r.Metric() == "l2" && r.Normalized() && r.Q == 1 && r.Audit == 0 {
			least = math.Min(least, r.MaxReproNorm[1])
		}
	}
	z := get("zhang-II", "exact")
	if z.HonestAllPass != 1e-4 || z.FirstPass != 0.03 || z.HonestThreshold != 0 || z.PassThreshold != least ||
		math.Abs(least-0.022) > 1e-12 || !z.Separable || !math.IsInf(z.Margin, 1) {
		t.Fatalf("zhang-II exact: honest pass %v threshold %v, first pass %v threshold %v (want %v), separable %v, margin %v",
			z.HonestAllPass, z.HonestThreshold, z.FirstPass, z.PassThreshold, least, z.Separable, z.Margin)
	}
	if md := string(s.Markdown()); !strings.Contains(md, "| yes | inf |") {
		t.Fatalf("markdown does not print an infinite margin as inf:\n%s", md)
	}
	// In noise:0.01 honest k=8 proofs need 0.1·1.2 -> delta 1, so no delta separates.
	if zn := get("zhang-II", "noise:0.01"); zn.Separable {
		t.Fatalf("zhang-II separable in noise env: %+v", zn)
	}
	// Blindfold passes only at Q = 1 without audits, where the summary is computed.
	if b := get(KindBlindfold, "exact"); b.AcceptedNorm != 1 {
		t.Fatalf("blindfold accepted at 0.008 = %v, want 1", b.AcceptedNorm)
	}
	// Break-even of zhang-II: cost_fraction / (T'/T) = 3.1 for every proof.
	for _, be := range s.BreakEven {
		if be.Kind == "zhang-II" && math.Abs(be.Fraction-1/3.1) > 1e-9 {
			t.Fatalf("zhang-II break-even fraction %v, want %v", be.Fraction, 1/3.1)
		}
	}
	if md := string(s.Markdown()); !strings.Contains(md, "| zhang-II | exact |") {
		t.Fatalf("markdown lacks the zhang-II row:\n%s", md)
	}
	if c := string(s.CSV()); !strings.HasPrefix(c, "kind,env,") || strings.Count(c, "\n") != len(s.Rows)+1 {
		t.Fatalf("summary CSV malformed:\n%s", c)
	}
}

func TestFiguresHaveData(t *testing.T) {
	dir := t.TempDir()
	figs, err := DrawFigures(syntheticRows(), dir, testStyle())
	if err != nil {
		t.Fatal(err)
	}
	want := FigureNames()
	if len(figs) != len(want) {
		t.Fatalf("%d figures, want one per registered name %q", len(figs), want)
	}
	for i, f := range figs {
		if f.Name != want[i] {
			t.Errorf("figure %d is %s, want %s", i, f.Name, want[i])
		}
		if f.Points == 0 || len(f.Series) == 0 {
			t.Errorf("%s: no data drawn (%d points, series %v)", f.Name, f.Points, f.Series)
		}
		for _, p := range f.Panels {
			for _, panel := range p {
				if panel.X.Label.Text == "" || panel.Y.Label.Text == "" {
					t.Errorf("%s: unlabelled axis", f.Name)
				}
			}
		}
		for _, ext := range FigureFormats {
			st, err := os.Stat(filepath.Join(dir, f.Name+"."+ext))
			if err != nil || st.Size() == 0 {
				t.Errorf("%s.%s not written (%v)", f.Name, ext, err)
			}
		}
	}
	fig4 := figureNamed(t, figs, "fig4_cost")
	if len(fig4.Notes) == 0 {
		t.Error("fig4 does not report a measured break-even")
	}
	for _, want := range []string{"break-even: spoof cost", "published break-even T'/T = 3.2%", "zhang-II: cheaper at every plotted T'/T"} {
		if !slices.ContainsFunc(fig4.LegendLabels(), func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("fig4 legend lacks %q: %q", want, fig4.LegendLabels())
		}
	}
	// fig5: one panel per grid delta nearest 0.002, 0.004, 0.008 and 0.016 (synthetic grid:
	// 1e-3, 0.008, 0.03), each with data, and one legend entry per audit count.
	fig5 := figureNamed(t, figs, "fig5_blindfold")
	var titles []string
	for _, row := range fig5.Panels {
		for _, p := range row {
			titles = append(titles, p.Title.Text)
			if fig5.panelPoints[p] == 0 {
				t.Errorf("fig5 panel %q drew no points", p.Title.Text)
			}
		}
	}
	if want := []string{"delta = 0.001 l2/d_ref", "delta = 0.008 l2/d_ref", "delta = 0.03 l2/d_ref"}; !slices.Equal(titles, want) {
		t.Errorf("fig5 panels %q, want %q", titles, want)
	}
	for _, want := range []string{"top-Q only, no random audit", "top-Q + 2 random audits per epoch",
		"panels at the grid deltas nearest 0.002, 0.004, 0.008, 0.016 l2/d_ref", "honest proofs (k = 4) of env exact"} {
		if !slices.ContainsFunc(fig5.LegendLabels(), func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("fig5 legend lacks %q: %q", want, fig5.LegendLabels())
		}
	}
}

// TestFiguresShareOneLegend: each figure's legend is one tile under the panels that names
// every series once (however many panels draw it) and fits the figure's width.
func TestFiguresShareOneLegend(t *testing.T) {
	figs, err := BuildFigures(syntheticRows(), testStyle())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		labels := f.LegendLabels()
		for _, s := range f.Series {
			if n := slices.Index(labels, s); n < 0 || slices.Index(labels[n+1:], s) >= 0 {
				t.Errorf("%s: series %q is not in the legend exactly once: %q", f.Name, s, labels)
			}
		}
		lay := f.legendLayout()
		if lay.cols < 1 || f.TotalHeight() <= f.Height {
			t.Errorf("%s: no legend tile (%d columns, height %v of %v)", f.Name, lay.cols, f.TotalHeight(), f.Height)
		}
		if used := vg.Length(lay.cols)*lay.colWidth - legendGap; used > f.Width {
			t.Errorf("%s: legend %v wide, figure %v", f.Name, used, f.Width)
		}
		if lay.cols*lay.rows < len(lay.entries) {
			t.Errorf("%s: %d legend cells for %d entries", f.Name, lay.cols*lay.rows, len(lay.entries))
		}
	}
}

// TestFiguresWithoutDataAreLeftOut: a figure the CSV holds no data for is neither built nor
// written, and a redraw removes its stale files.
func TestFiguresWithoutDataAreLeftOut(t *testing.T) {
	rows := syntheticRows()
	var honestOnly []Row
	for _, r := range rows {
		if r.Kind == KindHonest {
			honestOnly = append(honestOnly, r)
		}
	}
	dir := t.TempDir()
	if _, err := DrawFigures(rows, dir, testStyle()); err != nil {
		t.Fatal(err)
	}
	figs, err := DrawFigures(honestOnly, dir, testStyle())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
		if f.Points == 0 {
			t.Errorf("%s listed without data", f.Name)
		}
	}
	if !slices.Contains(names, "fig3_honest_error") || slices.Contains(names, "fig6_infinitesimal") {
		t.Fatalf("honest-only CSV drew %q: want fig3 and no fig6", names)
	}
	for _, ext := range append(slices.Clone(FigureFormats), "md") {
		if _, err := os.Stat(filepath.Join(dir, "fig6_infinitesimal."+ext)); !os.IsNotExist(err) {
			t.Errorf("stale fig6_infinitesimal.%s left behind (%v)", ext, err)
		}
	}
}

// TestSummaryIgnoresRowOrder: the summary is a function of the CSV's content, bit for bit.
func TestSummaryIgnoresRowOrder(t *testing.T) {
	rows := syntheticRows()
	want := Summarize(rows).CSV()
	shuffled := slices.Clone(rows)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if got := Summarize(shuffled).CSV(); !bytes.Equal(got, want) {
		t.Fatalf("row order changed the summary:\n%s\nvs\n%s", got, want)
	}
}

// thresholdRows are one proof's rows at the summary policy (l2, normalised, Q = 1, no audit)
// over a coarse grid, decided the way the verifier does: a delta-independent check (failed
// != "") rejects at every delta, a re-execution failure (reexecFails) rejects at every delta
// whatever the distance, otherwise the proof passes iff dist <= delta.
func thresholdRows(kind, env, id string, dist float64, failed string, reexecFails bool) []Row {
	var rows []Row
	for _, d := range []float64{0.001, 0.01, 0.03, 0.1} {
		r := replayed(Row{Experiment: "thresholds", ProofID: id, Kind: kind, Model: "mlp:4-3-2:relu", Dataset: "synthetic",
			DType: "f32", Params: 23, K: 4, Steps: 64, Checkpoints: 17, TargetSteps: 64, TargetK: 4,
			AttackDelta: math.NaN(), Env: env, Q: 1, FailedInterval: -1, Checked: 1, ReexecSteps: 4,
			CostFraction: 1, HonestFLOPs: 1e6, CostFLOPs: 1e6}, l2Replay(d, true), stats.Distances{L2: 2})
		for i := range Metrics {
			r.MaxReproNorm[i], r.MaxRepro[i] = dist, 2*dist
		}
		switch {
		case failed != "":
			r.FailedCheck = failed
		case reexecFails || dist > d:
			r.FailedCheck, r.FailedInterval = verifier.CheckTopQ, 0
		default:
			r.Accepted = true
		}
		rows = append(rows, r)
	}
	return rows
}

// TestSummarySeparationIsExact: separable and margin come from the measured distances, not
// from the delta grid, which here would call a separable kind inseparable and understate a
// margin tenfold.
func TestSummarySeparationIsExact(t *testing.T) {
	var rows []Row
	add := func(kind, id string, dist float64, failed string, reexecFails bool) {
		rows = append(rows, thresholdRows(kind, "noise:1", id, dist, failed, reexecFails)...)
	}
	add(KindHonest, "h1", 0.0193, "", false)
	add(KindHonest, "h2", 0.0204, "", false) // both honest proofs first pass on the grid at 0.03
	add("zhang-II", "z1", 0.025, "", false)  // first passes on the grid at 0.03 too
	add("zhang-II", "z2", 0.05, "", false)
	add("zhang-I", "i1", 0.001, verifier.CheckData, false) // tiny distance, but the data check rejects it
	add(KindBlindfold, "b1", 1e-5, "", true)               // re-execution fails: rejected at every delta
	add(KindInfinitesimal, "f1", 0.029, "", false)
	_, back := csvRoundTrip(t, rows)
	s := Summarize(back)
	got := map[string]SummaryRow{}
	for _, r := range s.Rows {
		got[r.Kind] = r
	}
	h, z := got[KindHonest], got["zhang-II"]
	if h.HonestAllPass != 0.03 || h.HonestThreshold != 0.0204 || h.PassThreshold != 0.0193 {
		t.Fatalf("honest: grid pass %v, threshold %v, first threshold %v; want 0.03, 0.0204, 0.0193", h.HonestAllPass, h.HonestThreshold, h.PassThreshold)
	}
	// The grid sees honest pass 0.03 = first pass 0.03 (not separable); the distances say
	// every honest proof passes from 0.0204 and no zhang-II proof below 0.025.
	if z.FirstPass != 0.03 || z.HonestAllPass != 0.03 || z.PassThreshold != 0.025 || z.HonestThreshold != 0.0204 {
		t.Fatalf("zhang-II: grid %v vs honest %v, thresholds %v vs honest %v", z.FirstPass, z.HonestAllPass, z.PassThreshold, z.HonestThreshold)
	}
	if !z.Separable || math.Abs(z.Margin-0.025/0.0204) > 1e-12 {
		t.Fatalf("zhang-II: separable %v margin %v, want true, %v", z.Separable, z.Margin, 0.025/0.0204)
	}
	for _, kind := range []string{"zhang-I", KindBlindfold} {
		if r := got[kind]; !math.IsInf(r.PassThreshold, 1) || !r.Separable || !math.IsInf(r.Margin, 1) {
			t.Fatalf("%s is rejected at every delta: threshold %v, separable %v, margin %v", kind, r.PassThreshold, r.Separable, r.Margin)
		}
	}
	// Grid margin 0.03/0.03 = 1; exact 0.029/0.0204 ≈ 1.42.
	if f := got[KindInfinitesimal]; !f.Separable || math.Abs(f.Margin-0.029/0.0204) > 1e-12 {
		t.Fatalf("infinitesimal: separable %v margin %v, want true, %v", f.Separable, f.Margin, 0.029/0.0204)
	}
	// An honest proof that never passes makes the env's honest threshold +Inf: nothing separates.
	rows = append(rows, thresholdRows(KindHonest, "noise:1", "h3", 0.001, verifier.CheckHparams, false)...)
	s = Summarize(rows)
	for _, r := range s.Rows {
		if r.Kind != KindHonest && (r.Separable || !math.IsNaN(r.Margin) || !math.IsInf(r.HonestThreshold, 1)) {
			t.Fatalf("%s separable %v margin %v with an honest proof that never passes", r.Kind, r.Separable, r.Margin)
		}
	}
}

func TestSeparationMargin(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range []struct{ forgery, honest, want float64 }{
		{0.05, 0.02, 2.5}, {0.01, 0.02, 0.5}, {inf, 0.02, inf}, {0.01, 0, inf}, {0, 0, 1},
		{inf, inf, nan}, {0.01, inf, nan}, {nan, 0.02, nan}, {0.01, nan, nan},
	} {
		got := separationMargin(c.forgery, c.honest)
		if !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("separationMargin(%v, %v) = %v, want %v", c.forgery, c.honest, got, c.want)
		}
	}
}
