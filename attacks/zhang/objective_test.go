package zhang

import (
	"math"
	"math/rand/v2"
	"testing"

	"pollab/autodiff"
)

// tinyMLP is a 6-5-3 tanh MLP, small enough for finite differences over every input.
type tinyMLP struct{ in, hidden, classes int }

func (m tinyMLP) InputShape() []int { return []int{m.in} }
func (m tinyMLP) Classes() int      { return m.classes }
func (m tinyMLP) ParamShapes() [][]int {
	return [][]int{{m.hidden, m.in}, {m.hidden}, {m.classes, m.hidden}, {m.classes}}
}
func (m tinyMLP) Forward(b *autodiff.Builder, x autodiff.Node, p []autodiff.Node) autodiff.Node {
	return b.Linear(b.Tanh(b.Linear(x, p[0], p[1])), p[2], p[3])
}
func (m tinyMLP) FLOPsPerSample() float64 {
	return 2 * float64(m.in*m.hidden+m.hidden*m.classes)
}
func (m tinyMLP) Symbolic2nd() bool { return true }

// numParams is the length of the flat parameter vector (ParamShapes: two weights, two biases).
func (m tinyMLP) numParams() int { return m.hidden*m.in + m.hidden + m.classes*m.hidden + m.classes }

// newObjective builds a random objective on the tiny MLP. Base points are drawn inside
// (0.1, 0.9) so that a perturbation of a few tenths moves some across the clamp.
func newObjective(t *testing.T, mode autodiff.SecondOrder, lambda float64) (*Objective, []float64) {
	t.Helper()
	net := tinyMLP{in: 6, hidden: 5, classes: 3}
	rng := rand.New(rand.NewPCG(7, 11))
	const B = 4
	params := make([]float64, net.numParams())
	for i := range params {
		params[i] = rng.NormFloat64() * 0.6
	}
	target := make([]float64, len(params))
	for i := range target {
		target[i] = rng.NormFloat64() * 0.1
	}
	base := make([]float64, B*net.in)
	for i := range base {
		base[i] = 0.1 + 0.8*rng.Float64()
	}
	labels := make([]int, B)
	for i := range labels {
		labels[i] = rng.IntN(net.classes)
	}
	r := make([]float64, len(base))
	for i := range r {
		r[i] = rng.NormFloat64() * 0.05
	}
	// One coordinate far outside the data range: its matching-term derivative must be masked.
	r[3] = 2.5
	return &Objective{
		Engine: autodiff.NewEngine(net, autodiff.Float64, nil),
		Mode:   mode, Params: params, Base: base, Labels: labels, Target: target, Lambda: lambda,
	}, r
}

// The objective's gradient w.r.t. r matches central finite differences of f itself, for
// both second-order methods, including the masked (clamped) coordinate.
func TestObjectiveGradientMatchesFiniteDifferences(t *testing.T) {
	for _, mode := range []autodiff.SecondOrder{autodiff.Symbolic, autodiff.CentralDiff} {
		t.Run(mode.String(), func(t *testing.T) {
			o, r := newObjective(t, mode, 0.7)
			grad := make([]float64, len(r))
			f0, res, nr, err := o.Eval(r, grad)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(f0-(res+0.7*nr)) > 1e-12*math.Max(1, f0) {
				t.Fatalf("f = %g, residual + λ|r|² = %g", f0, res+0.7*nr)
			}
			const h = 1e-6
			worst := 0.0
			for i := range r {
				keep := r[i]
				r[i] = keep + h
				fp, _, _, err := o.Eval(r, nil)
				if err != nil {
					t.Fatal(err)
				}
				r[i] = keep - h
				fm, _, _, err := o.Eval(r, nil)
				if err != nil {
					t.Fatal(err)
				}
				r[i] = keep
				fd := (fp - fm) / (2 * h)
				rel := math.Abs(fd-grad[i]) / math.Max(1e-3, math.Abs(fd))
				worst = math.Max(worst, rel)
				if rel > 1e-5 {
					t.Errorf("coordinate %d: analytic %.10g, finite difference %.10g (rel %.2g)", i, grad[i], fd, rel)
				}
			}
			// The clamped coordinate only feels the penalty.
			if want := 2 * 0.7 * r[3]; math.Abs(grad[3]-want) > 1e-12 {
				t.Errorf("clamped coordinate: gradient %g, want the penalty's %g", grad[3], want)
			}
			t.Logf("%s: worst relative error %.2g over %d coordinates", mode, worst, len(r))
		})
	}
}

// L-BFGS reduces the matching residual well below that of the real batch, and the result
// never gets worse than the start.
func TestCraftReducesResidual(t *testing.T) {
	o, _ := newObjective(t, autodiff.Symbolic, 0.01)
	c, err := Craft(o, LBFGSLimits{Iterations: 30})
	if err != nil {
		t.Fatal(err)
	}
	if c.Evaluations < 2 || c.Evaluations > 30 {
		t.Errorf("%d evaluations, want 2..30 (the default budget is N)", c.Evaluations)
	}
	if !(c.F <= c.StartResid) {
		t.Errorf("best f %g above the start %g", c.F, c.StartResid)
	}
	if !(c.Residual < 0.5*c.StartResid) {
		t.Errorf("residual %g not below half the real batch's %g (status %s, %d iterations)", c.Residual, c.StartResid, c.Status, c.Iterations)
	}
	// The reported terms are those of the returned perturbation.
	f, res, nr, err := o.Eval(c.R, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f != c.F || res != c.Residual || nr != c.NormR2 {
		t.Errorf("reported (f %g, res %g, |r|² %g), re-evaluated (%g, %g, %g)", c.F, c.Residual, c.NormR2, f, res, nr)
	}
	t.Logf("residual %.4g -> %.4g, |r|² %.3g, %d evals, %d iterations, %s", c.StartResid, c.Residual, c.NormR2, c.Evaluations, c.Iterations, c.Status)
}

// A target that some perturbation reaches exactly (the gradient of a nearby batch with the
// same labels) is matched to a tiny fraction of the real batch's residual when |r|² is not
// penalised: L-BFGS and the second-order gradient work together.
func TestCraftRecoversReachableTarget(t *testing.T) {
	o, _ := newObjective(t, autodiff.Symbolic, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	other := make([]float64, len(o.Base))
	for i, v := range o.Base {
		other[i] = clamp(v + 0.2*rng.NormFloat64())
	}
	if _, err := o.Engine.LossGrad(o.Params, other, o.Labels, o.Target); err != nil {
		t.Fatal(err)
	}
	c, err := Craft(o, LBFGSLimits{Iterations: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !(c.Residual < 1e-3*c.StartResid) {
		t.Errorf("reachable target: residual %.3g from %.3g (status %s, %d iterations)", c.Residual, c.StartResid, c.Status, c.Iterations)
	}
	t.Logf("reachable target: residual %.3g -> %.3g, |r|² %.3g", c.StartResid, c.Residual, c.NormR2)
}
