package attacks

import (
	"errors"
	"fmt"
	"math"

	"pollab/models"
	"pollab/proof"
	"pollab/prover"
)

// ErrNoAnalyticBound: GradBound has no bound for the model's architecture (BatchNorm, whose
// backward pass divides by the batch's standard deviation; anything but a chain of layers).
var ErrNoAnalyticBound = errors.New("no analytic gradient bound for this architecture")

// GradBound is an upper bound on the l2 norm of the mean cross-entropy gradient (with
// respect to all parameters) at any parameter vector whose tensors have Frobenius norms at
// most norms[i] (in m.Tensors() order), over inputs with features in [0, 1]. It computes no
// gradient.
//
// It holds for the models pollab parses: chains of (weight, bias) linear layers [out,in] and
// stride-1 convolutions [out,in,kh,kw] with ReLU or tanh (1-Lipschitz, zero at zero), max
// pooling and flattening in between, where no convolution enlarges the image (padding at most
// (kh-1)/2), so a layer has at most P = H·W output positions of the input image. Per sample,
// with a = activation norm and δ = norm of the loss gradient at a layer's output:
//
//	a_0 = |x| <= √dim;  a_l <= c_l‖W_l‖a_{l-1} + √P_l‖b_l‖   (c = 1 linear, √(kh·kw) conv)
//	δ_L = |softmax(z) − e_y| <= √2;  δ_{l-1} <= c_l‖W_l‖δ_l
//	|∂W_l| <= c_l δ_l a_{l-1},  |∂b_l| <= √P_l δ_l
//
// (a convolution's operator norm is at most √(kh·kw)·‖W‖_F because every input value enters
// at most kh·kw patches; activation derivatives are in [0, 1] and pooling routes gradients,
// so neither enlarges δ). A batch mean is bounded by the largest per-sample gradient.
func GradBound(m models.Model, norms []float64) (float64, error) {
	if _, ok := m.(models.BufferedModel); ok {
		return 0, fmt.Errorf("gradient bound: model %s normalises with batch statistics (BatchNorm): %w", m.Spec(), ErrNoAnalyticBound)
	}
	ts := m.Tensors()
	if len(norms) != len(ts) {
		return 0, fmt.Errorf("gradient bound: %d norms for %d tensors", len(norms), len(ts))
	}
	if len(ts)%2 != 0 {
		return 0, fmt.Errorf("gradient bound: model %s has %d tensors, not (weight, bias) pairs: %w", m.Spec(), len(ts), ErrNoAnalyticBound)
	}
	in := m.InputShape()
	dim, positions := 1, 1
	for _, d := range in {
		dim *= d
	}
	if len(in) == 3 {
		positions = in[1] * in[2]
	}
	type layer struct{ c, w, b, p float64 }
	layers := make([]layer, 0, len(ts)/2)
	for i := 0; i < len(ts); i += 2 {
		w, b := ts[i], ts[i+1]
		if len(b.Shape) != 1 || len(w.Shape) < 2 || b.Shape[0] != w.Shape[0] {
			return 0, fmt.Errorf("gradient bound: tensors %s %v and %s %v are not a (weight, bias) pair: %w", w.Name, w.Shape, b.Name, b.Shape, ErrNoAnalyticBound)
		}
		l := layer{c: 1, w: norms[i], b: norms[i+1], p: 1}
		switch len(w.Shape) {
		case 2:
		case 4:
			l.c = math.Sqrt(float64(w.Shape[2] * w.Shape[3]))
			l.p = float64(positions)
		default:
			return 0, fmt.Errorf("gradient bound: tensor %s has shape %v, neither linear nor convolution: %w", w.Name, w.Shape, ErrNoAnalyticBound)
		}
		layers = append(layers, l)
	}
	acts := make([]float64, len(layers)+1) // acts[l] = bound on the input norm of layer l
	acts[0] = math.Sqrt(float64(dim))
	for l, ly := range layers {
		acts[l+1] = float64(ly.c*ly.w*acts[l]) + float64(math.Sqrt(ly.p)*ly.b)
	}
	delta := math.Sqrt2
	var ss float64
	for l := len(layers) - 1; l >= 0; l-- {
		ly := layers[l]
		gw := ly.c * delta * acts[l]
		gb := math.Sqrt(ly.p) * delta
		ss += float64(gw*gw) + float64(gb*gb)
		delta *= ly.c * ly.w
	}
	g := math.Sqrt(ss)
	if math.IsNaN(g) || math.IsInf(g, 0) {
		return 0, fmt.Errorf("gradient bound: overflow (weights too large for an analytic bound)")
	}
	return g, nil
}

// TensorNorms returns the Frobenius norm of each of m's tensors in w.
func TensorNorms(m models.Model, w []float64) []float64 {
	off := models.Offsets(m)
	out := make([]float64, len(off)-1)
	for i := range out {
		var ss float64
		for _, v := range w[off[i]:off[i+1]] {
			ss += float64(v * v)
		}
		out[i] = math.Sqrt(ss)
	}
	return out
}

// TinyLR is the largest learning rate for which k SGD steps under h, started with a momentum
// buffer of norm buf0 from parameters whose tensors have norms at most norms, provably move
// the parameters by at most budget in l2. With G = GradBound at norms + budget (the steps
// themselves move the weights by at most budget), each step's direction d = g + wd·w has
// |d| <= D = G + wd·(|w| + budget), a momentum buffer stays below |buf0| + D/(1−mu), and the k
// steps move by at most lr·k·(|buf0| + D/(1−mu))·growth, growth being the largest factor the
// claimed lr schedule can multiply lr by (gamma^milestones when gamma > 1).
func TinyLR(m models.Model, norms []float64, buf0 float64, h proof.Hyper, k int, budget float64) (lr, gradBound float64, err error) {
	if !(budget > 0) || k <= 0 {
		return 0, 0, fmt.Errorf("tiny lr: budget %g and k %d must be positive", budget, k)
	}
	padded := make([]float64, len(norms))
	var wnorm float64
	for i, n := range norms {
		padded[i] = n + budget
		wnorm += float64(n * n)
	}
	g, err := GradBound(m, padded)
	if err != nil {
		return 0, 0, err
	}
	lr, err = TinyLRFor(g, math.Sqrt(wnorm), buf0, h, k, budget)
	return lr, g, err
}

// TinyLRFor is TinyLR for a given gradient-norm bound g at parameters of l2 norm at most
// wnorm (+ budget).
func TinyLRFor(g, wnorm, buf0 float64, h proof.Hyper, k int, budget float64) (lr float64, err error) {
	if !(budget > 0) || k <= 0 {
		return 0, fmt.Errorf("tiny lr: budget %g and k %d must be positive", budget, k)
	}
	d := g + float64(h.WeightDecay*(wnorm+budget))
	step := buf0 + d/(1-h.Momentum)
	growth := 1.0
	if h.Gamma > 1 {
		growth = math.Pow(h.Gamma, float64(len(h.Milestones)))
	}
	lr = budget / (float64(k) * step * growth)
	if !(lr > 0) || math.IsInf(lr, 0) {
		return 0, fmt.Errorf("tiny lr: no positive lr (gradient bound %g, momentum %g)", g, h.Momentum)
	}
	return lr, nil
}

// MeasuredGradSafety is the factor MeasuredGradBound puts on the largest gradient norm it
// measured.
const MeasuredGradSafety = 10

// MeasuredGradBound stands in for GradBound on a model without an analytic bound
// (ErrNoAnalyticBound: BatchNorm): MeasuredGradSafety × the largest l2 norm of the batch
// gradient at each parameter vector of ws over the batches of steps 0 … n−1 (batch(i): row,
// augmentation seed, augment). An estimate, not a bound: a verifier's re-execution decides
// whether it held. Gradients run in training mode through s.Gradient (running statistics
// untouched) and are recorded in s's ledger.
func MeasuredGradBound(s *prover.Stepper, ws [][]float64, n int, batch func(i int) ([]int32, uint64, bool)) (float64, error) {
	var most float64
	for _, w := range ws {
		for i := range n {
			row, seed, aug := batch(i)
			x, y, err := s.Gather(row, seed, aug)
			if err != nil {
				return 0, fmt.Errorf("measured gradient bound: %w", err)
			}
			g, _, err := s.Gradient(w, x, y, i)
			if err != nil {
				return 0, fmt.Errorf("measured gradient bound: %w", err)
			}
			var ss float64
			for _, v := range g {
				ss += float64(v * v)
			}
			most = max(most, math.Sqrt(ss))
		}
	}
	return MeasuredGradSafety * most, nil
}
