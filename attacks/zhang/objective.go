package zhang

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/optimize"

	"pollab/autodiff"
)

// Data range of decoded features: every data.Dataset decodes points into [0, 1].
const (
	dataLow  = 0.0
	dataHigh = 1.0
)

// Objective is the gradient-matching objective of one crafted batch,
//
//	f(r) = |∇_W L(W; clamp(X+r), y) - g*|² + λ|r|²,
//
// as a function of the perturbation r (same length as X). The clamp keeps the crafted points
// in the data range; its derivative is 1 where X+r lies in [0, 1] (boundaries included, as
// torch.clamp's) and 0 outside, so the gradient of the matching term is masked there. The
// boundaries must count as inside: most MNIST pixels are exactly 0, and at r = 0 an exclusive
// mask would freeze them for ever.
type Objective struct {
	Engine *autodiff.Engine
	Mode   autodiff.SecondOrder
	Params []float64 // W_j, the parameters the gradient is taken at
	Base   []float64 // X, the real batch (B·dim features)
	Labels []int     // y, its true labels
	Target []float64 // g*, the gradient to match (NumParams)
	Lambda float64   // weight of |r|²

	x, g, dRdX []float64 // scratch
}

// Eval returns f(r) and writes ∂f/∂r into grad (when grad is non-nil), together with the two
// terms of f: the matching residual |g - g*|² and |r|².
func (o *Objective) Eval(r, grad []float64) (f, residual, norm2 float64, err error) {
	n := len(o.Base)
	if len(r) != n {
		return 0, 0, 0, fmt.Errorf("objective: perturbation has %d values, batch has %d", len(r), n)
	}
	if grad != nil && len(grad) != n {
		return 0, 0, 0, fmt.Errorf("objective: gradient buffer has %d values, want %d", len(grad), n)
	}
	if len(o.x) != n {
		o.x = make([]float64, n)
		o.dRdX = make([]float64, n)
	}
	if len(o.g) != len(o.Target) {
		o.g = make([]float64, len(o.Target))
	}
	for i, v := range r {
		o.x[i] = clamp(o.Base[i] + v)
		norm2 += float64(v * v)
	}
	residual, err = o.Engine.GradMatch(o.Mode, o.Params, o.x, o.Labels, o.Target, o.g, o.dRdX)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("objective: gradient matching: %w", err)
	}
	if grad != nil {
		for i, v := range r {
			d := 0.0
			if s := o.Base[i] + v; s >= dataLow && s <= dataHigh {
				d = o.dRdX[i]
			}
			grad[i] = d + float64(2*o.Lambda*v)
		}
	}
	return residual + float64(o.Lambda*norm2), residual, norm2, nil
}

// Points writes the crafted batch clamp(X + r) into dst.
func (o *Objective) Points(r, dst []float64) {
	for i, v := range r {
		dst[i] = clamp(o.Base[i] + v)
	}
}

func clamp(v float64) float64 { return math.Min(math.Max(v, dataLow), dataHigh) }

// Crafted is the outcome of one L-BFGS run on an Objective.
type Crafted struct {
	R           []float64 // the best perturbation evaluated (lowest f)
	F           float64   // f at R
	Residual    float64   // |g - g*|² at R
	NormR2      float64   // |r|² at R
	StartResid  float64   // |g - g*|² of the unperturbed real batch (r = 0)
	Evaluations int       // objective evaluations (each one GradMatch)
	Iterations  int       // L-BFGS major iterations
	Status      string    // gonum's termination status
}

// LBFGSLimits bounds one crafting run.
type LBFGSLimits struct {
	Iterations int // major iterations N (the paper's L-BFGS max_iter)
	// Evaluations bounds objective evaluations (each one GradMatch); 0 means N, the paper's
	// budget of N gradient-matching passes per step ("3N+1 gradient computations"). gonum's
	// line search may spend more than one evaluation on an iteration, so fewer than N major
	// iterations can complete within it.
	Evaluations int
}

func (l LBFGSLimits) evaluations() int {
	if l.Evaluations > 0 {
		return l.Evaluations
	}
	return l.Iterations
}

// Craft minimises o from r = 0 with gonum's L-BFGS within the limits. It keeps the best point
// it evaluated, which is at least as good as the start (r = 0 is the first evaluation), so a
// run cut short by the evaluation limit inside a line search loses nothing.
func Craft(o *Objective, lim LBFGSLimits) (*Crafted, error) {
	if lim.Iterations < 1 {
		return nil, fmt.Errorf("craft: %d L-BFGS iterations, want >= 1", lim.Iterations)
	}
	n := len(o.Base)
	if n == 0 {
		return nil, errors.New("craft: empty batch")
	}
	out := &Crafted{R: make([]float64, n), F: math.Inf(1), StartResid: math.NaN()}
	var (
		evalErr  error
		lastX    []float64
		lastF    float64
		lastGrad = make([]float64, n)
		haveLast bool
	)
	// gonum asks for Func and Grad at the same point in separate calls; one GradMatch gives
	// both, so evaluate once and serve the second call from this cache.
	evaluate := func(x []float64) {
		if haveLast && slices.Equal(x, lastX) {
			return
		}
		f, res, nr, err := o.Eval(x, lastGrad)
		if err != nil {
			if evalErr == nil {
				evalErr = err
			}
			f = math.Inf(1)
			clear(lastGrad)
		}
		if math.IsNaN(f) {
			f = math.Inf(1)
			clear(lastGrad)
		}
		out.Evaluations++
		if out.Evaluations == 1 {
			out.StartResid = res
		}
		if f < out.F {
			out.F, out.Residual, out.NormR2 = f, res, nr
			copy(out.R, x)
		}
		lastX = append(lastX[:0], x...)
		lastF, haveLast = f, true
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 { evaluate(x); return lastF },
		Grad: func(grad, x []float64) { evaluate(x); copy(grad, lastGrad) },
		Status: func() (optimize.Status, error) {
			if evalErr != nil {
				return optimize.Failure, evalErr
			}
			return optimize.NotTerminated, nil
		},
	}
	settings := &optimize.Settings{
		MajorIterations: lim.Iterations,
		FuncEvaluations: lim.evaluations(),
		Converger:       optimize.NeverTerminate{},
	}
	res, err := optimize.Minimize(prob, make([]float64, n), settings, &optimize.LBFGS{})
	if evalErr != nil {
		return nil, fmt.Errorf("craft: %w", evalErr)
	}
	if res != nil {
		out.Iterations = res.Stats.MajorIterations
		out.Status = res.Status.String()
	}
	// Reaching an iteration or evaluation limit is the normal end; anything gonum reports
	// beyond that (a line search that cannot progress) still leaves the best point usable.
	if err != nil && out.Evaluations == 0 {
		return nil, fmt.Errorf("craft: L-BFGS: %w", err)
	}
	if math.IsInf(out.F, 1) {
		return nil, errors.New("craft: the objective was not finite at any evaluated point")
	}
	return out, nil
}
