package experiments

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// writeNoiseDir writes a noise measurement directory as `pollab_torch noise` does: two
// settings in provenance.json, intervals of both in intervals.csv.
func writeNoiseDir(t *testing.T, intervals string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "torch-noise")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prov := `{"start": "2026-12-02T10:00:00+00:00", "configs": {
  "mlp": {"spec": "mlp:4-3-2:relu", "data": "synthetic", "batch": 8, "lr": 0.05, "momentum": 0.0, "wd": 0.0, "steps": 64, "ks": [4, 8]},
  "cnn": {"spec": "lenet5", "data": "synthetic:n={n},seed=1", "batch": 32, "lr": 0.05, "momentum": 0.9, "wd": 0.0001, "steps": 20, "ks": [4]}}}`
	for name, body := range map[string]string{"provenance.json": prov, "intervals.csv": intervals} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const noiseHeader = "model,dtype,direction,threads,k,interval,start,end,l1,l2,linf,cos,update_l2\n"

func TestImportMeasuredKeepsTheRunsSetting(t *testing.T) {
	dir := writeNoiseDir(t, noiseHeader+
		"mlp,f32,torch→pollab,1,4,0,0,4,1e-3,2e-3,3e-4,0,0.1\n"+
		"mlp,f64,torch→pollab,1,4,0,0,4,1e-15,2e-15,3e-16,0,0.1\n"+ // another dtype
		"mlp,f32,torch1→torch2,2,4,0,0,4,1,2,3,0,0.1\n"+ // PyTorch against itself
		"mlp,f32,pollab→torch,1,8,0,0,8,1,2,3,0,0.1\n"+ // a k the run does not have
		"cnn,f32,pollab→torch,2,4,0,0,4,1,2,3,0,0.1\n") // another model
	spec := &Spec{Models: []string{"mlp:4-3-2:relu"}, Dataset: "synthetic", DType: "f32", Train: TrainSpec{Batch: 8, LR: 0.05, K: []int{4, 16}}}
	ms, err := ImportMeasured(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("kept %d intervals, want the one f32 MLP interval: %+v", len(ms), ms)
	}
	m := ms[0]
	if m.Config != "mlp" || m.Model != "mlp:4-3-2:relu" || m.Direction != "torch→pollab" || m.K != 4 || m.End != 4 || m.Dist != [4]float64{1e-3, 2e-3, 3e-4, 0} {
		t.Errorf("imported %+v", m)
	}
	if !strings.HasPrefix(m.Source, "torch-noise (measured 2026-12-02T10:00:00+00:00, intervals.csv sha256 ") {
		t.Errorf("source %q", m.Source)
	}
	// The CNN's synthetic dataset is named with n = steps x batch filled in.
	cnn := &Spec{Models: []string{"lenet5"}, Dataset: "synthetic:n=640,seed=1", DType: "f32", Train: TrainSpec{Batch: 32, LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, K: []int{4}}}
	if ms, err := ImportMeasured(dir, cnn); err != nil || len(ms) != 1 || ms[0].Threads != 2 {
		t.Errorf("lenet5: %+v, %v", ms, err)
	}

	// Round trip through the results directory's file.
	out := t.TempDir()
	if got, err := ReadMeasured(out); got != nil || err != nil {
		t.Errorf("a directory without %s: %v, %v", MeasuredNoiseCSV, got, err)
	}
	if err := WriteMeasured(out, ms); err != nil {
		t.Fatal(err)
	}
	back, err := ReadMeasured(out)
	if err != nil || !reflect.DeepEqual(back, ms) {
		t.Errorf("read back %+v, %v; wrote %+v", back, err, ms)
	}

	// Any other lr, batch, momentum, weight decay, dataset or dtype matches nothing.
	for _, edit := range []func(s *Spec){
		func(s *Spec) { s.Train.LR = 0.01 }, func(s *Spec) { s.Train.Batch = 16 }, func(s *Spec) { s.Train.Momentum = 0.9 },
		func(s *Spec) { s.Train.WeightDecay = 1e-4 }, func(s *Spec) { s.Dataset = "mnist" }, func(s *Spec) { s.DType = "f64"; s.Models = []string{"x"} },
	} {
		s := *spec
		edit(&s)
		if ms, err := ImportMeasured(dir, &s); err == nil || !strings.Contains(err.Error(), "no measurement in this run's setting") {
			t.Errorf("%+v: %d intervals, %v", s.Train, len(ms), err)
		}
	}
	bad := writeNoiseDir(t, noiseHeader+
		"mlp,f32,torch→pollab,one,4,0,0,4,1,2,3,0,0.1\n")
	if _, err := ImportMeasured(bad, spec); err == nil || !strings.Contains(err.Error(), "line 2: column threads") {
		t.Errorf("a malformed row: %v", err)
	}
	badK := writeNoiseDir(t, noiseHeader+"mlp,f32,torch→pollab,1,4,0,0,4,1,2,3,0,0.1\nmlp,f32,torch→pollab,1,x,0,0,4,1,2,3,0,0.1\n")
	if _, err := ImportMeasured(badK, spec); err == nil || !strings.Contains(err.Error(), "line 3: column k") {
		t.Errorf("a malformed k: %v", err)
	}
	if _, err := ImportMeasured(t.TempDir(), spec); err == nil {
		t.Error("a directory without a measurement: no error")
	}
}

// The measured panel of fig1: each measured re-execution is one honest proof, rejected at a
// grid delta when its largest interval distance over d_ref exceeds it.
func TestFig1MeasuredPanel(t *testing.T) {
	rows := syntheticRows() // model mlp:4-3-2:relu, target k 4, l2 d_ref 2, grid 1e-4 ... 1
	run := func(dir string, k int, l2 ...float64) []MeasuredInterval {
		var out []MeasuredInterval
		for i, d := range l2 {
			out = append(out, MeasuredInterval{Source: "test", Model: "mlp:4-3-2:relu", Direction: dir, Threads: 1, K: k,
				Interval: i, Start: i * k, End: (i + 1) * k, Dist: [4]float64{0, d, 0, 0}})
		}
		return out
	}
	var ms []MeasuredInterval
	ms = append(ms, run("torch→pollab", 4, 0.001, 0.004)...) // max 0.004: 0.002 d_ref
	ms = append(ms, run("pollab→torch", 4, 0.05, 0.01)...)   // max 0.05: 0.025 d_ref
	ms = append(ms, run("pollab→torch", 8, 9, 9)...)         // another k: not these proofs
	longer := run("torch→pollab", 4, 0.002)                  // another measured run, same direction: its own proof
	longer[0].Config, longer[0].End = "longer", 12
	ms = append(ms, longer...)
	other := run("torch→pollab", 4, 9)
	other[0].Model = "lenet5" // no d_ref in this run
	ms = append(ms, other...)

	f, err := BuildFigure("fig1_trap", rows, testStyle(), ms...)
	if err != nil {
		t.Fatal(err)
	}
	var got *Series
	for i := range f.Data {
		if f.Data[i].Key == "measured" {
			got = &f.Data[i]
		}
	}
	if got == nil {
		t.Fatalf("no measured series in %v", f.Series)
	}
	wantX, wantY := []float64{1e-4, 1e-3, 0.008, 0.03, 0.1, 1}, []float64{1, 2.0 / 3, 1.0 / 3, 0, 0, 0}
	if !slices.Equal(got.X, wantX) || !slices.Equal(got.Y, wantY) {
		t.Errorf("measured false-reject at %v: %v, want %v", got.X, got.Y, wantY)
	}
	// Beside it, every simulated env's honest false-reject at Q = all, and their thresholds.
	simulated := 0
	for _, s := range f.Data {
		if s.Panel == got.Panel && strings.HasPrefix(s.Key, "env:") {
			simulated++
		}
	}
	if simulated != 3 {
		t.Errorf("%d simulated env curves beside the measured one, want 3", simulated)
	}
	// honest k = 4 proofs at Q = all: error envErr x (1 + seed/10), the largest at seed 2.
	want := "honest threshold (l2 / d_ref accepting every honest proof at k = 4, every interval re-executed): dtype 0.0048, exact 0, " +
		"noise:0.01 0.06; measured 0.025 (max over 3 re-executions of proofs in this setting by another implementation, 2 of steps 0-8, 1 of steps 0-12: test)"
	if !slices.Contains(f.LegendLabels(), want) {
		t.Errorf("no note %q in %q", want, f.LegendLabels())
	}
	if !strings.Contains(f.Caption, "The last panel") {
		t.Errorf("caption does not explain the measured panel: %s", f.Caption)
	}

	// Without measurements at the target k, fig1 is what it was without any.
	plain, err := BuildFigure("fig1_trap", rows, testStyle())
	if err != nil {
		t.Fatal(err)
	}
	off, err := BuildFigure("fig1_trap", rows, testStyle(), run("pollab→torch", 8, 9)...)
	if err != nil {
		t.Fatal(err)
	}
	panels := func(g *Figure) (n int) {
		for _, row := range g.Panels {
			n += len(row)
		}
		return n
	}
	if panels(plain) != panels(f)-1 || strings.Contains(plain.Caption, "measured") {
		t.Errorf("without measurements: %d panels (with: %d), caption %q", panels(plain), panels(f), plain.Caption)
	}
	if off.Caption != plain.Caption || !reflect.DeepEqual(off.LegendLabels(), plain.LegendLabels()) || !reflect.DeepEqual(off.Data, plain.Data) || panels(off) != panels(plain) {
		t.Errorf("measurements at another k changed fig1: %d series (without: %d)", len(off.Data), len(plain.Data))
	}
}

// The committed measurement against the committed paper run (MNIST MLP, f32, target k = 10):
// fig1's measured threshold is the largest l2 over the committed intervals of that setting at
// k = 10, over the run's d_ref, computed here from the two files directly.
func TestFig1MeasuredFromCommittedResults(t *testing.T) {
	runDir, noiseDir := filepath.Join("..", "results", "paper-reference"), filepath.Join("..", "results", "torch-noise")
	spec, err := ReadSpecOf(runDir)
	if err != nil {
		t.Skipf("no committed paper run: %v", err)
	}
	ms, err := ImportMeasured(noiseDir, spec)
	if err != nil {
		t.Fatal(err)
	}
	csvPath, err := FindResultsCSV(runDir)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadCSVFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := BuildFigure("fig1_trap", rows, testStyle(), ms...)
	if err != nil {
		t.Fatal(err)
	}

	// Independently: the l2 column of the MNIST MLP's f32 rows at k = 10, and the l2 d_ref.
	raw, err := os.Open(filepath.Join(noiseDir, "intervals.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	recs, err := csv.NewReader(raw).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	maxL2, n := 0.0, 0
	for _, r := range recs[1:] { // model,dtype,direction,threads,k,interval,start,end,l1,l2,...
		if strings.HasPrefix(r[0], "mlp") && r[1] == "f32" && r[4] == "10" && strings.Contains(r[2], "pollab") {
			v, err := strconv.ParseFloat(r[9], 64)
			if err != nil {
				t.Fatal(err)
			}
			maxL2, n = math.Max(maxL2, v), n+1
		}
	}
	var dref float64
	for _, r := range rows {
		if r.Metric() == "l2" {
			dref = r.DRef()
			break
		}
	}
	if n == 0 || !(dref > 0) {
		t.Fatalf("%d intervals at k = 10, d_ref %g", n, dref)
	}
	want := "; measured " + strconv.FormatFloat(maxL2/dref, 'g', 2, 64) + " (max over "
	var note string
	for _, l := range f.LegendLabels() {
		if strings.HasPrefix(l, "honest threshold") {
			note = l
		}
	}
	if !strings.Contains(note, want) {
		t.Errorf("fig1 note %q, want it to contain %q (%d intervals, max l2 %g, d_ref %g)", note, want, n, maxL2, dref)
	}
}
