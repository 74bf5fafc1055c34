package autodiff

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
)

// ErrUnsafeValues is returned (wrapped) when parameters or inputs are not finite, or large
// enough that an activation could overflow. Such values are rejected before running because
// a NaN reaching Gorgonia's max-pool backward indexes out of range on the machine's own
// goroutine and kills the process, where no recover can catch it. A hostile proof must
// produce an error, not a crash.
var ErrUnsafeValues = errors.New("values unsafe to run")

// bound returns an upper bound on |v| over every element v of a node, given the largest
// |value| of each parameter tensor and of the input.
type bound func(paramMax []float64, xMax float64) float64

// track records the bound of out, for the engine's pre-run overflow check.
func (b *Builder) track(out Node, f bound) Node {
	if out.n != nil && b.bounds != nil {
		b.bounds[out.n] = f
		b.order = append(b.order, f)
	}
	return out
}

// boundOf returns the recorded bound of x, or +Inf (refuse to run) when x was not built by
// this Builder's vocabulary.
func (b *Builder) boundOf(x Node) bound {
	if f, ok := b.bounds[x.n]; ok {
		return f
	}
	return func([]float64, float64) float64 { return math.Inf(1) }
}

// activationBound is the largest bound over every tracked node, evaluated in build order.
func (b *Builder) activationBound() bound {
	order := b.order
	return func(pm []float64, xm float64) float64 {
		var m float64
		for _, f := range order {
			v := f(pm, xm)
			if math.IsNaN(v) {
				return math.Inf(1)
			}
			m = max(m, v)
		}
		return m
	}
}

// safeLimit is the largest activation bound an engine accepts: far from overflow of the
// graph's dtype, with room for the cross-entropy and the backward pass's sums.
func (d DType) safeLimit() float64 {
	if d == Float32 {
		return math.MaxFloat32 / 1024
	}
	return math.MaxFloat64 / 1024
}

// maxAbs returns max |v| over vs, or +Inf if any value is NaN or infinite. It compares the
// IEEE bit patterns with the sign cleared, which order like the magnitudes and put NaN and
// ±Inf (all-ones exponent) above every finite value: branch-free, four lanes, so that the
// check costs little next to a training step.
func maxAbs(vs []float64) float64 {
	const magnitude = 1<<63 - 1
	var m0, m1, m2, m3 uint64
	i := 0
	for ; i+4 <= len(vs); i += 4 {
		m0 = max(m0, math.Float64bits(vs[i])&magnitude)
		m1 = max(m1, math.Float64bits(vs[i+1])&magnitude)
		m2 = max(m2, math.Float64bits(vs[i+2])&magnitude)
		m3 = max(m3, math.Float64bits(vs[i+3])&magnitude)
	}
	for ; i < len(vs); i++ {
		m0 = max(m0, math.Float64bits(vs[i])&magnitude)
	}
	m := max(m0, m1, m2, m3)
	if m >= math.Float64bits(math.Inf(1)) {
		return math.Inf(1)
	}
	return math.Float64frombits(m)
}

// checkSafe rejects parameters and inputs whose activations could overflow the graph dtype.
//
// An eval-mode program of a net with buffers (checkOutput) is not held to the interval
// bound: eval-mode BatchNorm divides by √(running variance + ε), bounded only by 1/√ε ≈ 316
// per layer, so the bound of ResNet-20 reaches about 1e88 on honest values, beyond float32.
// Its forward pass runs only ops that do not crash on non-finite values (pollab's own conv,
// pool, channel and pad ops, gorgonia's elementwise ops and GEMM), so Logits checks the
// logits instead and reports an overflow as ErrUnsafeValues. Non-finite parameters, buffers
// and inputs are still rejected before running.
func (p *program) checkSafe(dt DType, paramMax []float64, xMax float64) error {
	for i, m := range paramMax {
		if math.IsInf(m, 0) {
			return fmt.Errorf("autodiff: parameter tensor %d has a non-finite value: %w", i, ErrUnsafeValues)
		}
	}
	if math.IsInf(xMax, 0) {
		return fmt.Errorf("autodiff: input has a non-finite value: %w", ErrUnsafeValues)
	}
	if a, lim := p.bound(paramMax, xMax), dt.safeLimit(); !(a <= lim) && !p.checkOutput {
		return fmt.Errorf("autodiff: activations could reach %.3g (limit %.3g for %v): %w", a, lim, dt, ErrUnsafeValues)
	}
	return nil
}

// registerLeaf sets the bound of a graph input node.
func (b *Builder) registerLeaf(n *gorgonia.Node, f bound) {
	if b.bounds != nil {
		b.bounds[n] = f
	}
}
