package autodiff_test

import (
	"encoding/json"
	"runtime"
	"sync"
	"testing"
	"time"

	"pollab/autodiff"
	"pollab/models"
)

func TestLedgerCountsExact(t *testing.T) {
	m := mustParse(t, "mlp:30-16-10:tanh")
	F := m.FLOPsPerSample()
	led := autodiff.NewLedger()
	e := autodiff.NewEngine(m, autodiff.Float32, led)
	w := models.Init(m, 1)
	x4, y4 := batch(m, 4, 1)
	x2, _ := batch(m, 2, 2)
	g := make([]float64, len(w))
	gx := make([]float64, len(x4))

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.LossGrad(w, x4, y4, g) // 1 fwd + 1 bwd, 4 samples, 3F·4
	must(err)
	_, err = e.LossGrad(w, x4, y4, g) // again (cached program)
	must(err)
	_, err = e.InputGrad(w, x4, y4, gx) // 1 fwd + 1 bwd, 4 samples, 3F·4
	must(err)
	must(e.Logits(w, x2, make([]float64, 2*10))) // 1 fwd, 2 samples, F·2
	_, err = e.GradMatch(autodiff.Symbolic, w, x4, y4, g, make([]float64, len(w)), gx)
	must(err) // 1 fwd + 1 bwd + 1 second-order, 4 samples, 9F·4
	gstar := make([]float64, len(w))
	_, err = e.GradMatch(autodiff.CentralDiff, w, x4, y4, gstar, make([]float64, len(w)), gx)
	must(err)                             // 3 × (1 fwd + 1 bwd), 12 samples, 9F·4
	_, err = e.LossGrad(w, x4, y4[:3], g) // rejected: records nothing
	if err == nil {
		t.Fatal("mismatched labels accepted")
	}
	led.AddOther(123, time.Millisecond)

	c := led.Cost()
	want := autodiff.Cost{
		Forward: 2 + 1 + 1 + 1 + 3, Backward: 2 + 1 + 1 + 3, SecondOrder: 1,
		Samples: 8 + 4 + 2 + 4 + 12,
		FLOPs:   F * (24 + 12 + 2 + 36 + 36),
		Other:   123,
	}
	got := c
	got.Wall = 0
	if got != want {
		t.Errorf("ledger\n got %+v\nwant %+v", got, want)
	}
	if c.Wall <= time.Millisecond {
		t.Errorf("wall %v does not include engine time", c.Wall)
	}
	if ge := c.GradEquivalents(F * 4); ge != (24+12+2+36+36)/12.0 {
		t.Errorf("GradEquivalents = %v", ge)
	}

	b, err := json.Marshal(c)
	must(err)
	var back autodiff.Cost
	must(json.Unmarshal(b, &back))
	if back != c {
		t.Errorf("JSON round trip: %s gave %+v, want %+v", b, back, c)
	}
	if sum := c.Add(c); sum.Forward != 2*c.Forward || sum.Wall != 2*c.Wall || sum.FLOPs != 2*c.FLOPs {
		t.Errorf("Add: %+v", sum)
	}
}

// TestLedgerConcurrent shares one ledger between engines on several goroutines, each
// compiling its own graphs (run with -race to check the locking, including buildMu).
func TestLedgerConcurrent(t *testing.T) {
	led := autodiff.NewLedger()
	const workers, calls = 3, 5
	var wg sync.WaitGroup
	for i := range workers {
		m := mustParse(t, []string{"mlp:30-16-10:relu", "lenet5", "mlp:30-16-10:tanh"}[i])
		w := models.Init(m, 1)
		x, y := batch(m, 3, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := autodiff.NewEngine(m, autodiff.Float64, led)
			g := make([]float64, len(w))
			for range calls {
				if _, err := e.LossGrad(w, x, y, g); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if c := led.Cost(); c.Forward != workers*calls || c.Samples != 3*workers*calls {
		t.Errorf("concurrent ledger: %+v", c)
	}
}

// TestDeterministicTraining: the same seed gives bit-identical parameters after 50 SGD
// steps, whatever GOMAXPROCS, in float32 and float64.
func TestDeterministicTraining(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, spec := range []string{"mlp:30-16-10:relu", "lenet5"} {
		m := mustParse(t, spec)
		for _, dt := range []autodiff.DType{autodiff.Float32, autodiff.Float64} {
			var runs [][]float64
			for _, procs := range []int{1, 2, 1} {
				runtime.GOMAXPROCS(procs)
				runs = append(runs, sgd(t, m, dt, 50, 7))
			}
			for i := 1; i < len(runs); i++ {
				for j := range runs[0] {
					if runs[i][j] != runs[0][j] {
						t.Fatalf("%s %v: run %d differs at parameter %d: %v vs %v", spec, dt, i, j, runs[i][j], runs[0][j])
					}
				}
			}
			if relErr(runs[0], models.Init(m, 7)) < 1e-6 {
				t.Fatalf("%s %v: training did not move the parameters", spec, dt)
			}
		}
	}
}

// sgd runs plain w -= lr·g steps on batches drawn from a fixed stream.
func sgd(t *testing.T, m models.Model, dt autodiff.DType, steps int, seed uint64) []float64 {
	w := models.Init(m, seed)
	dt.Round(w)
	e := autodiff.NewEngine(m, dt, nil)
	g := make([]float64, len(w))
	for s := range steps {
		x, y := batch(m, 4, uint64(s))
		dt.Round(x)
		if _, err := e.LossGrad(w, x, y, g); err != nil {
			t.Fatal(err)
		}
		for i := range w {
			w[i] -= 0.1 * g[i]
		}
		dt.Round(w)
	}
	return w
}
