package autodiff_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

// residual returns R(W, X) = |∂L/∂W - gstar|² computed from first-order gradients only.
func residual(t *testing.T, e *autodiff.Engine, w, x []float64, y []int, gstar []float64) float64 {
	t.Helper()
	g := make([]float64, len(w))
	if _, err := e.LossGrad(w, x, y, g); err != nil {
		t.Fatal(err)
	}
	var r float64
	for i := range g {
		r += (g[i] - gstar[i]) * (g[i] - gstar[i])
	}
	return r
}

// matchTarget is a target gradient near, but not at, the batch's own gradient, so that R and
// dR/dX are far from zero.
func matchTarget(t *testing.T, e *autodiff.Engine, w, x []float64, y []int) []float64 {
	t.Helper()
	g := make([]float64, len(w))
	if _, err := e.LossGrad(w, x, y, g); err != nil {
		t.Fatal(err)
	}
	var rms float64
	for _, v := range g {
		rms += v * v
	}
	rms = math.Sqrt(rms / float64(len(g)))
	r := rand.New(rand.NewPCG(11, 12))
	for i := range g {
		g[i] += 0.3 * rms * r.NormFloat64()
	}
	return g
}

// checkGradMatch runs GradMatch by both methods and checks R against a recomputation, the
// returned g against LossGrad, dR/dX against central differences of R on nfd inputs, and the
// two methods against each other (all in float64; dR/dX to 1e-5).
func checkGradMatch(t *testing.T, e *autodiff.Engine, w, x []float64, y []int, gstar []float64, nfd int) {
	t.Helper()
	var dRdX [2][]float64
	methods := []autodiff.SecondOrder{autodiff.Symbolic, autodiff.CentralDiff}
	for i, method := range methods {
		g := make([]float64, len(w))
		dRdX[i] = make([]float64, len(x))
		r, err := e.GradMatch(method, w, x, y, gstar, g, dRdX[i])
		if err != nil {
			t.Fatalf("%v: %v", method, err)
		}
		if want := residual(t, e, w, x, y, gstar); math.Abs(r-want) > 1e-12*want {
			t.Errorf("%v: R = %v, recomputed %v", method, r, want)
		}
		gl := make([]float64, len(w))
		if _, err := e.LossGrad(w, x, y, gl); err != nil {
			t.Fatal(err)
		}
		if rel := relErr(g, gl); rel > 1e-12 {
			t.Errorf("%v: returned g differs from LossGrad by %.3g", method, rel)
		}
	}
	idx := subset(len(x), nfd, 5)
	fd := centralFD(t, x, idx, 1e-5, func() float64 { return residual(t, e, w, x, y, gstar) })
	for i, method := range methods {
		rel := relErr(pick(dRdX[i], idx), fd)
		t.Logf("%v dR/dX vs finite differences of R: relative error %.3g", method, rel)
		if rel > 1e-5 {
			t.Errorf("%v dR/dX vs finite differences of R: relative error %.3g > 1e-5", method, rel)
		}
	}
	rel := relErr(dRdX[0], dRdX[1])
	t.Logf("symbolic vs central dR/dX: relative error %.3g", rel)
	if rel > 1e-5 {
		t.Errorf("symbolic vs central dR/dX: relative error %.3g > 1e-5", rel)
	}
}

// TestGradMatchMatchesFiniteDifferences: on MLPs, LeNet-5 and cnn-cifar, symbolic double
// backprop (through pollab's conv and max-pool ops on the CNNs) equals the central-difference
// GradMatch (<= 1e-5), and both match finite differences of R. Central differences are only
// valid where no ReLU pre-activation or max-pool tie lies within their perturbation (about
// 1e-5): on cnn-cifar about one batch in two has such a kink (batch seed 2: 42 of 6144 inputs
// off by up to 0.3 where the other inputs agree to 1e-11), so the batch is one without.
func TestGradMatchMatchesFiniteDifferences(t *testing.T) {
	for _, c := range []struct {
		spec                     string
		init, batch, size, diffs int // Init seed, batch seed and size, finite differences
	}{
		{"mlp:30-16-10:relu", 21, 22, 4, 30},
		{"mlp:30-16-12-10:tanh", 21, 22, 4, 30},
		{"lenet5", 1, 5, 3, 10},
		{"cnn-cifar", 1, 5, 3, 10},
	} {
		t.Run(c.spec, func(t *testing.T) {
			m := mustParse(t, c.spec)
			w := models.Init(m, uint64(c.init))
			x, y := batch(m, c.size, uint64(c.batch))
			e := autodiff.NewEngine(m, autodiff.Float64, nil)
			checkGradMatch(t, e, w, x, y, matchTarget(t, e, w, x, y), c.diffs)
		})
	}
}

// TestGradMatchFloat32 checks the symbolic path in float32 against float64, and that the
// central path ignores the engine dtype (always float64).
func TestGradMatchFloat32(t *testing.T) {
	m := mustParse(t, "mlp:30-16-10:tanh")
	w := models.Init(m, 1)
	autodiff.Float32.Round(w)
	x, y := batch(m, 4, 2)
	autodiff.Float32.Round(x)
	e64 := autodiff.NewEngine(m, autodiff.Float64, nil)
	e32 := autodiff.NewEngine(m, autodiff.Float32, nil)
	gstar := matchTarget(t, e64, w, x, y)
	autodiff.Float32.Round(gstar)
	run := func(e *autodiff.Engine, method autodiff.SecondOrder) []float64 {
		d := make([]float64, len(x))
		if _, err := e.GradMatch(method, w, x, y, gstar, make([]float64, len(w)), d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	ref := run(e64, autodiff.Symbolic)
	if rel := relErr(run(e32, autodiff.Symbolic), ref); rel > 1e-4 {
		t.Errorf("symbolic f32 vs f64: relative error %.3g > 1e-4", rel)
	}
	if got, want := run(e32, autodiff.CentralDiff), run(e64, autodiff.CentralDiff); relErr(got, want) != 0 {
		t.Errorf("central path on a float32 engine is not the float64 computation")
	}
}

// TestSecondGradNeedsDerivReset pins the Gorgonia v0.9.18 bug the derivative reset works
// around: without it, Grad(R, X) on a graph that already holds Grad(L, W) reuses stale
// derivatives and is silently wrong. If this test fails, upstream has fixed the bug: drop
// resetDerivs (derivreset.go) and this test.
func TestSecondGradNeedsDerivReset(t *testing.T) {
	m := mustParse(t, "mlp:30-16-10:tanh")
	w := models.Init(m, 31)
	x, y := batch(m, 4, 32)
	e := autodiff.NewEngine(m, autodiff.Float64, nil)
	gstar := matchTarget(t, e, w, x, y)
	broken := autodiff.NewEngine(m, autodiff.Float64, nil)
	autodiff.SkipDerivReset(broken)
	dRdX := make([]float64, len(x))
	if _, err := broken.GradMatch(autodiff.Symbolic, w, x, y, gstar, make([]float64, len(w)), dRdX); err != nil {
		t.Skipf("without the reset the second Grad now fails loudly (%v); the reset may be unnecessary", err)
	}
	idx := subset(len(x), 30, 5)
	fd := centralFD(t, x, idx, 1e-5, func() float64 { return residual(t, e, w, x, y, gstar) })
	rel := relErr(pick(dRdX, idx), fd)
	t.Logf("without derivative reset: relative error %.3g", rel)
	if rel < 1e-2 {
		t.Fatalf("second-order gradient without the derivative reset is correct (relative error %.3g): "+
			"gorgonia fixed the stale-derivative bug, remove resetDerivs and this test", rel)
	}
}
