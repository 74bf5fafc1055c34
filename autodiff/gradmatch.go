package autodiff

import (
	"errors"
	"fmt"
	"math"
	"pollab/internal/enum"
	"time"
)

// SecondOrder selects how GradMatch computes the mixed second derivative.
type SecondOrder int

const (
	// Symbolic builds g = ∂L/∂W, R = Σ(g - g*)² and ∂R/∂X in one graph (double
	// backprop with the derivative reset) and runs it in the engine's dtype. Only for nets
	// whose ops differentiate twice (Net.Symbolic2nd).
	Symbolic SecondOrder = iota
	// CentralDiff approximates ∂R/∂X = vᵀ ∂²L/∂W∂X, v = 2(g - g*), by
	// [∂L/∂X(W + εv) - ∂L/∂X(W - εv)] / (2ε) with ε = 1e-6/|v|∞. It always runs in float64
	// (in float32 the perturbations drown in rounding and cross ReLU kinks) and works for
	// any net: 1 LossGrad + 2 InputGrad passes. It is exact only where no ReLU
	// pre-activation or max-pool tie lies within the perturbation, which moves every weight
	// at once: on ResNet-20 (about 190k ReLUs per sample) it crossed a kink in 7 of 8
	// batches tried (batch 1 and 2), 20 to 540 times off the symbolic result
	// (TestResnetGradMatch uses the one clean batch); use Symbolic there.
	CentralDiff
)

// ParseSecondOrder accepts "symbolic" and "central".
func ParseSecondOrder(s string) (SecondOrder, error) { return secondOrders.Parse(s) }

// String returns "symbolic" or "central".
func (m SecondOrder) String() string { return secondOrders.String(m) }

var secondOrders = enum.Table[SecondOrder]{Type: "SecondOrder", What: "second-order method", Want: "symbolic|central",
	Values: []enum.Value[SecondOrder]{enum.V(Symbolic, "symbolic"), enum.V(CentralDiff, "central", "central-diff", "centraldiff")}}

// centralStep is the size of the largest parameter perturbation |ε·v|∞ of CentralDiff:
// small enough that few ReLU/max-pool kinks are crossed (with 1e-4, LeNet-5's dR/dX was off
// by 3e-5 relative; with 1e-6, 7e-7), large enough that float64 rounding (∝ 1e-16/ε) stays
// near 1e-10. MLP: 5e-11 from the symbolic result.
const centralStep = 1e-6

// GradMatch computes, for g(X) = ∂L(W;X,y)/∂W, the residual R = |g - gstar|² and dR/dX
// (into dRdX, len(x)); g (NumParams) is filled with the parameter gradient. See SecondOrder
// for the two methods. Symbolic errors (does not panic) when the net lacks Symbolic2nd.
func (e *Engine) GradMatch(m SecondOrder, params, x []float64, labels []int, gstar, g, dRdX []float64) (float64, error) {
	B, err := e.batchOf(params, x, labels, true)
	if err != nil {
		return 0, err
	}
	if len(gstar) != e.numParams || len(g) != e.numParams {
		return 0, fmt.Errorf("autodiff: GradMatch: gstar has %d and g %d elements, want %d", len(gstar), len(g), e.numParams)
	}
	if len(dRdX) != len(x) {
		return 0, fmt.Errorf("autodiff: GradMatch: dRdX has %d elements, want %d", len(dRdX), len(x))
	}
	switch m {
	case Symbolic:
		return e.gradMatchSymbolic(B, params, x, labels, gstar, g, dRdX)
	case CentralDiff:
		return e.gradMatchCentral(params, x, labels, gstar, g, dRdX)
	}
	return 0, fmt.Errorf("autodiff: GradMatch: unknown method %d", int(m))
}

func (e *Engine) gradMatchSymbolic(B int, params, x []float64, labels []int, gstar, g, dRdX []float64) (float64, error) {
	start := time.Now()
	if !e.net.Symbolic2nd() {
		return 0, errors.New("autodiff: GradMatch: symbolic second-order is not supported by this net (use central)")
	}
	r, err := e.runBatch("GradMatch", kindGradMatch, B, params, x, labels, gstar, func(p *program) error {
		if _, err := readValue(p.value(p.gx), dRdX); err != nil {
			return err
		}
		return e.readGrads(p, p.grads, g)
	})
	if err != nil {
		return 0, err
	}
	e.record(start, B, 1, 1, 1, 9*e.flops*float64(B))
	return r, nil
}

// float64Twin returns an engine in float64 on the same net and ledger.
func (e *Engine) float64Twin() *Engine {
	if e.dt == Float64 {
		return e
	}
	if e.f64 == nil {
		e.f64 = NewEngine(e.net, Float64, e.ledger)
	}
	return e.f64
}

func (e *Engine) gradMatchCentral(params, x []float64, labels []int, gstar, g, dRdX []float64) (float64, error) {
	f := e.float64Twin()
	if _, err := f.LossGrad(params, x, labels, g); err != nil {
		return 0, fmt.Errorf("autodiff: GradMatch central: %w", err)
	}
	v := make([]float64, len(g))
	var r, vmax float64
	for i := range g {
		d := g[i] - gstar[i]
		r += float64(d * d)
		v[i] = 2 * d
		vmax = max(vmax, math.Abs(v[i]))
	}
	if vmax == 0 || math.IsNaN(vmax) || math.IsInf(vmax, 0) {
		if vmax != 0 {
			return 0, fmt.Errorf("autodiff: GradMatch central: gradient residual is not finite")
		}
		clear(dRdX) // g = gstar: R has a minimum here
		return r, nil
	}
	eps := centralStep / vmax
	w := make([]float64, len(params))
	minus := make([]float64, len(x))
	for i := range w {
		w[i] = params[i] + float64(eps*v[i])
	}
	if _, err := f.InputGrad(w, x, labels, dRdX); err != nil {
		return 0, fmt.Errorf("autodiff: GradMatch central (+ε): %w", err)
	}
	for i := range w {
		w[i] = params[i] - float64(eps*v[i])
	}
	if _, err := f.InputGrad(w, x, labels, minus); err != nil {
		return 0, fmt.Errorf("autodiff: GradMatch central (-ε): %w", err)
	}
	for i := range dRdX {
		dRdX[i] = (dRdX[i] - minus[i]) / (2 * eps)
	}
	return r, nil
}
