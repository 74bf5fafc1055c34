package autodiff_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

// testSpecs are small versions of every model family (the conv nets are fixed, small batches
// keep them fast).
var testSpecs = []string{"mlp:30-16-10:relu", "mlp:30-16-12-10:tanh", "lenet5", "cnn-cifar"}

func mustParse(t testing.TB, spec string) models.Model {
	t.Helper()
	m, err := models.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func inDim(m models.Model) int {
	n := 1
	for _, d := range m.InputShape() {
		n *= d
	}
	return n
}

// batch draws B inputs in [0,1) and labels.
func batch(m models.Model, B int, seed uint64) ([]float64, []int) {
	r := rand.New(rand.NewPCG(seed, 99))
	x := make([]float64, B*inDim(m))
	for i := range x {
		x[i] = r.Float64()
	}
	y := make([]int, B)
	for i := range y {
		y[i] = r.IntN(m.Classes())
	}
	return x, y
}

// relErr is |a-b|₂ / max(|b|₂, tiny), a norm-based relative error (the internal tests').
var relErr = autodiff.NormRelErr

// subset picks k distinct coordinates of [0,n).
func subset(n, k int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 7))
	if k >= n {
		return r.Perm(n)
	}
	return r.Perm(n)[:k]
}

// centralFD differentiates f at v along each coordinate in idx: (f(v+h e_i) - f(v-h e_i))/2h.
func centralFD(t *testing.T, v []float64, idx []int, h float64, f func() float64) []float64 {
	t.Helper()
	out := make([]float64, len(idx))
	for j, i := range idx {
		orig := v[i]
		v[i] = orig + h
		fp := f()
		v[i] = orig - h
		fm := f()
		v[i] = orig
		out[j] = (fp - fm) / (2 * h)
	}
	return out
}

func pick(v []float64, idx []int) []float64 {
	out := make([]float64, len(idx))
	for j, i := range idx {
		out[j] = v[i]
	}
	return out
}

// checkLossGrads checks LossGrad's parameter gradient on coordinates pidx and InputGrad's
// input gradient on xidx against central differences of the loss (step 1e-6, float64),
// each to 1e-6 relative.
func checkLossGrads(t *testing.T, e *autodiff.Engine, w, x []float64, y []int, pidx, xidx []int) {
	t.Helper()
	loss := func() float64 {
		l, err := e.LossGrad(w, x, y, make([]float64, len(w)))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	g := make([]float64, len(w))
	if _, err := e.LossGrad(w, x, y, g); err != nil {
		t.Fatal(err)
	}
	gx := make([]float64, len(x))
	if _, err := e.InputGrad(w, x, y, gx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what    string
		grad, v []float64
		idx     []int
	}{{"parameter", g, w, pidx}, {"input", gx, x, xidx}} {
		rel := relErr(pick(c.grad, c.idx), centralFD(t, c.v, c.idx, 1e-6, loss))
		t.Logf("%s gradient vs finite differences (%d coordinates): relative error %.3g", c.what, len(c.idx), rel)
		if rel > 1e-6 {
			t.Errorf("%s gradient vs finite differences: relative error %.3g > 1e-6", c.what, rel)
		}
	}
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, spec := range testSpecs {
		t.Run(spec, func(t *testing.T) {
			m := mustParse(t, spec)
			w := models.Init(m, 3)
			x, y := batch(m, 2, 4)
			e := autodiff.NewEngine(m, autodiff.Float64, nil)
			checkLossGrads(t, e, w, x, y, subset(len(w), 40, 1), subset(len(x), 40, 2))
		})
	}
}

func TestFloat32AgreesWithFloat64(t *testing.T) {
	for _, spec := range testSpecs {
		t.Run(spec, func(t *testing.T) {
			m := mustParse(t, spec)
			w := models.Init(m, 5)
			autodiff.Float32.Round(w) // same parameters in both runs
			x, y := batch(m, 4, 6)
			autodiff.Float32.Round(x)
			var g [2][]float64
			var gx [2][]float64
			var logits [2][]float64
			var loss [2]float64
			for i, dt := range []autodiff.DType{autodiff.Float64, autodiff.Float32} {
				e := autodiff.NewEngine(m, dt, nil)
				g[i] = make([]float64, m.NumParams())
				gx[i] = make([]float64, len(x))
				logits[i] = make([]float64, 4*m.Classes())
				var err error
				if loss[i], err = e.LossGrad(w, x, y, g[i]); err != nil {
					t.Fatal(err)
				}
				if _, err = e.InputGrad(w, x, y, gx[i]); err != nil {
					t.Fatal(err)
				}
				if err = e.Logits(w, x, logits[i]); err != nil {
					t.Fatal(err)
				}
			}
			if rel := math.Abs(loss[1]-loss[0]) / loss[0]; rel > 1e-4 {
				t.Errorf("loss f32 %v vs f64 %v", loss[1], loss[0])
			}
			for name, pair := range map[string][2][]float64{"param grad": g, "input grad": gx, "logits": logits} {
				rel := relErr(pair[1], pair[0])
				t.Logf("%s: f32 vs f64 relative error %.3g", name, rel)
				if rel > 1e-4 {
					t.Errorf("%s: f32 vs f64 relative error %.3g > 1e-4", name, rel)
				}
			}
		})
	}
}

// TestLogitsAndLossAgree checks Logits against the loss: mean cross-entropy recomputed from
// the logits in Go must equal what LossGrad returns.
func TestLogitsAndLossAgree(t *testing.T) {
	m := mustParse(t, "lenet5")
	w := models.Init(m, 1)
	x, y := batch(m, 3, 2)
	e := autodiff.NewEngine(m, autodiff.Float64, nil)
	z := make([]float64, 3*10)
	if err := e.Logits(w, x, z); err != nil {
		t.Fatal(err)
	}
	var want float64
	for b := 0; b < 3; b++ {
		row := z[b*10 : b*10+10]
		mx := row[0]
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		want -= (row[y[b]] - mx - math.Log(s)) / 3
	}
	got, err := e.LossGrad(w, x, y, make([]float64, m.NumParams()))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("loss %v, recomputed from logits %v", got, want)
	}
}

// TestProgramsAreReusedWithFreshValues guards against the stale-value trap: the cached
// machine must recompute when inputs change, and give identical results when they do not.
func TestProgramsAreReusedWithFreshValues(t *testing.T) {
	m := mustParse(t, "mlp:30-16-10:relu")
	w := models.Init(m, 1)
	x1, y := batch(m, 5, 1)
	x2, _ := batch(m, 5, 2)
	e := autodiff.NewEngine(m, autodiff.Float64, nil)
	run := func(x []float64) (float64, []float64) {
		g := make([]float64, m.NumParams())
		l, err := e.LossGrad(w, x, y, g)
		if err != nil {
			t.Fatal(err)
		}
		return l, g
	}
	l1, g1 := run(x1)
	l2, g2 := run(x2)
	l3, g3 := run(x1)
	if l1 == l2 || relErr(g1, g2) == 0 {
		t.Errorf("different inputs gave the same loss/gradient: stale machine values")
	}
	if l1 != l3 || relErr(g3, g1) != 0 {
		t.Errorf("repeating a call changed the result: %v vs %v", l1, l3)
	}
}

func TestBatchOfOne(t *testing.T) {
	for _, spec := range []string{"mlp:30-16-10:tanh", "lenet5"} {
		m := mustParse(t, spec)
		w := models.Init(m, 1)
		x, y := batch(m, 1, 3)
		e := autodiff.NewEngine(m, autodiff.Float64, nil)
		g := make([]float64, m.NumParams())
		l, err := e.LossGrad(w, x, y, g)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		idx := subset(len(w), 20, 3)
		fd := centralFD(t, w, idx, 1e-6, func() float64 {
			l, err := e.LossGrad(w, x, y, make([]float64, len(w)))
			if err != nil {
				t.Fatal(err)
			}
			return l
		})
		if rel := relErr(pick(g, idx), fd); rel > 1e-6 || math.IsNaN(l) {
			t.Errorf("%s batch 1: loss %v, gradient relative error %.3g", spec, l, rel)
		}
	}
}

func TestBadInputsAreErrors(t *testing.T) {
	m := mustParse(t, "mlp:30-16-10:relu")
	w := models.Init(m, 1)
	x, y := batch(m, 2, 1)
	e := autodiff.NewEngine(m, autodiff.Float64, nil)
	g := make([]float64, m.NumParams())
	gx := make([]float64, len(x))
	cases := map[string]func() error{
		"short params": func() error { _, err := e.LossGrad(w[1:], x, y, g); return err },
		"ragged input": func() error { _, err := e.LossGrad(w, x[1:], y, g); return err },
		"empty input":  func() error { _, err := e.InputGrad(w, nil, nil, nil); return err },
		"label count":  func() error { _, err := e.LossGrad(w, x, y[:1], g); return err },
		"label range":  func() error { _, err := e.LossGrad(w, x, []int{0, 10}, g); return err },
		"neg label":    func() error { _, err := e.InputGrad(w, x, []int{-1, 0}, gx); return err },
		"grad length":  func() error { _, err := e.LossGrad(w, x, y, g[1:]); return err },
		"gx length":    func() error { _, err := e.InputGrad(w, x, y, gx[1:]); return err },
		"logits len":   func() error { return e.Logits(w, x, make([]float64, 3)) },
		"gstar length": func() error {
			_, err := e.GradMatch(autodiff.Symbolic, w, x, y, g[1:], g, gx)
			return err
		},
		"method": func() error {
			_, err := e.GradMatch(autodiff.SecondOrder(9), w, x, y, g, make([]float64, len(g)), gx)
			return err
		},
	}
	for name, f := range cases {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseDTypeAndSecondOrder(t *testing.T) {
	for s, want := range map[string]autodiff.DType{"f64": autodiff.Float64, "float64": autodiff.Float64, "f32": autodiff.Float32, "Float32": autodiff.Float32} {
		got, err := autodiff.ParseDType(s)
		if err != nil || got != want {
			t.Errorf("ParseDType(%q) = %v, %v", s, got, err)
		}
		if back, _ := autodiff.ParseDType(got.String()); back != got {
			t.Errorf("%v does not round-trip through String", got)
		}
	}
	if _, err := autodiff.ParseDType("f16"); err == nil {
		t.Error("ParseDType(f16): no error")
	}
	for _, m := range []autodiff.SecondOrder{autodiff.Symbolic, autodiff.CentralDiff} {
		if got, err := autodiff.ParseSecondOrder(m.String()); err != nil || got != m {
			t.Errorf("ParseSecondOrder(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := autodiff.ParseSecondOrder("exact"); err == nil {
		t.Error("ParseSecondOrder(exact): no error")
	}
	x := []float64{0.1, 1.0 / 3}
	autodiff.Float64.Round(x)
	if x[0] != 0.1 {
		t.Error("Float64.Round changed a value")
	}
	autodiff.Float32.Round(x)
	if x[1] != float64(float32(1.0/3)) {
		t.Error("Float32.Round did not round to float32")
	}
}

// TestUnsafeValuesAreErrors: NaN reaching gorgonia's max-pool backward crashes the process
// (index -1 on the machine's goroutine), so non-finite or overflowing values must be
// rejected with an error before running.
func TestUnsafeValuesAreErrors(t *testing.T) {
	m := mustParse(t, "lenet5")
	for _, dt := range []autodiff.DType{autodiff.Float32, autodiff.Float64} {
		e := autodiff.NewEngine(m, dt, nil)
		w := models.Init(m, 1)
		x, y := batch(m, 2, 1)
		g := make([]float64, len(w))
		gx := make([]float64, len(x))
		check := func(what string, w, x []float64) {
			t.Helper()
			_, err1 := e.LossGrad(w, x, y, g)
			_, err2 := e.InputGrad(w, x, y, gx)
			err3 := e.Logits(w, x, make([]float64, 20))
			_, err4 := e.GradMatch(autodiff.CentralDiff, w, x, y, g, make([]float64, len(w)), gx)
			for i, err := range []error{err1, err2, err3, err4} {
				if !errors.Is(err, autodiff.ErrUnsafeValues) {
					t.Errorf("%v %s, call %d: err = %v, want ErrUnsafeValues", dt, what, i, err)
				}
			}
		}
		nanX := slices.Clone(x)
		for i := range nanX {
			nanX[i] = math.NaN()
		}
		check("NaN inputs", w, nanX)
		infW := slices.Clone(w)
		infW[3] = math.Inf(-1)
		check("infinite weight", infW, x)
		// Finite but overflowing: conv1 outputs ~1e40 and conv2 mixes signs into Inf-Inf = NaN.
		huge := slices.Clone(w)
		for i := range huge {
			huge[i] *= 1e300
		}
		check("huge weights", huge, x)
		if _, err := e.LossGrad(w, x, y, g); err != nil {
			t.Errorf("%v: honest values rejected after unsafe ones: %v", dt, err)
		}
	}
}
