package autodiff

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Node is a value in the graph being built. The zero Node stands for "nothing" (an earlier
// error); every Builder method passes it through.
type Node struct{ n *gorgonia.Node }

// Shape returns the node's shape (nil for the zero Node).
func (x Node) Shape() []int {
	if x.n == nil {
		return nil
	}
	return []int(x.n.Shape())
}

// Builder records the forward pass of a Net into a graph. Its methods never panic: the first
// error is kept (see Err) and later calls return the zero Node.
type Builder struct {
	g   *gorgonia.ExprGraph
	dt  DType
	err error

	// bounds maps each node built so far to a bound on its magnitude (see bounds.go);
	// order lists them in build order.
	bounds map[*gorgonia.Node]bound
	order  []bound

	// transposedLeaf, when set, gives Linear a graph input holding the transpose [in,out] of
	// a parameter leaf w [out,in] (nil if w is not a parameter): the engine then fills it
	// transposed while copying from the flat vector, so that the products read it row-major.
	transposedLeaf func(w *gorgonia.Node) *gorgonia.Node

	// secondOrder builds Linear, the cross-entropy and the elementwise steps of Add and
	// eval-mode BatchNorm2d from gorgonia's ops (Mul, Reshape, BroadcastAdd; max, exp, sum,
	// log, ...; Add, Sub, HadamardProd, Square) instead of pollab's ops (linear.go, ce.go,
	// ew.go); training-mode BatchNorm2d is the fused family (bn.go) in every program. The
	// symbolic second-order program sets it: gorgonia sums a node's gradient
	// terms in the order of its topological sort of the graph, which depends on how many
	// nodes each op makes, and its dR/dX bits (pinned by results computed before the own
	// ops) follow that order; and the fused cross-entropy gradient is first-order only.
	secondOrder bool

	// buffers are the graph inputs of the net's buffers (BufferedNet), training whether the
	// program runs in training mode; stats lists each training-mode BatchNorm2d.
	buffers  []Node
	training bool
	stats    []batchStats
}

// Buffer returns buffer i of a BufferedNet (e.g. a BatchNorm2d's running mean), a graph
// input that is never differentiated, or the zero Node (and an error) if there is none.
func (b *Builder) Buffer(i int) Node {
	if i < 0 || i >= len(b.buffers) {
		return b.fail("Buffer", fmt.Errorf("buffer %d of %d", i, len(b.buffers)))
	}
	return b.buffers[i]
}

// Training reports whether the program being built runs in training mode (loss and
// gradient programs) rather than eval mode (logits).
func (b *Builder) Training() bool { return b.training }

// Err returns the first error met while building, or nil.
func (b *Builder) Err() error { return b.err }

// fail records err (if it is the first) and returns the zero Node.
func (b *Builder) fail(op string, err error) Node {
	if b.err == nil {
		b.err = fmt.Errorf("autodiff: %s: %w", op, err)
	}
	return Node{}
}

// ok reports whether building can go on with these operands.
func (b *Builder) ok(op string, xs ...Node) bool {
	if b.err != nil {
		return false
	}
	for i, x := range xs {
		if x.n == nil {
			b.fail(op, fmt.Errorf("operand %d is empty", i))
			return false
		}
	}
	return true
}

// guard turns a panic inside gorgonia's graph construction into an error.
func (b *Builder) guard(op string, f func() (*gorgonia.Node, error)) (out Node) {
	defer func() {
		if r := recover(); r != nil {
			out = b.fail(op, fmt.Errorf("gorgonia panicked: %v", r))
		}
	}()
	n, err := f()
	if err != nil {
		return b.fail(op, err)
	}
	return Node{n}
}

// Linear computes x·wᵀ + bias for x [B,in], w [out,in], bias [out] (PyTorch nn.Linear).
func (b *Builder) Linear(x, w, bias Node) Node {
	const op = "Linear"
	if !b.ok(op, x, w, bias) {
		return Node{}
	}
	xs, ws, bs := x.Shape(), w.Shape(), bias.Shape()
	if len(xs) != 2 || len(ws) != 2 || len(bs) != 1 || xs[1] != ws[1] || bs[0] != ws[0] {
		return b.fail(op, fmt.Errorf("shapes x%v w%v bias%v, want [B,in] [out,in] [out]", xs, ws, bs))
	}
	fx, fw, fb, in := b.boundOf(x), b.boundOf(w), b.boundOf(bias), float64(xs[1])
	out := b.guard(op, func() (*gorgonia.Node, error) {
		var wt *gorgonia.Node
		if b.transposedLeaf != nil {
			wt = b.transposedLeaf(w.n)
		}
		if !b.secondOrder {
			// pollab's own product op (linear.go): x·wᵀ + bias in one op, w read
			// transposed in place or, when the engine holds it transposed, as it is.
			if wt != nil {
				return newMMOp(false, false, xs[0], ws[0], ws[1], true).apply(x.n, wt, bias.n)
			}
			return newMMOp(false, true, xs[0], ws[0], ws[1], true).apply(x.n, w.n, bias.n)
		}
		if wt == nil {
			var err error
			if wt, err = gorgonia.Transpose(w.n); err != nil {
				return nil, err
			}
		}
		xw, err := gorgonia.Mul(x.n, wt)
		if err != nil {
			return nil, err
		}
		row, err := gorgonia.Reshape(bias.n, tensor.Shape{1, bs[0]})
		if err != nil {
			return nil, err
		}
		return gorgonia.BroadcastAdd(xw, row, nil, []byte{0})
	})
	return b.track(out, func(pm []float64, xm float64) float64 {
		return float64(in*fw(pm, xm)*fx(pm, xm)) + fb(pm, xm)
	})
}

// Conv2d is a PyTorch nn.Conv2d with square stride and zero padding: x [B,C,H,W],
// w [O,C,kh,kw], bias [O] or the zero Node for none, result [B,O,H',W']. It is pollab's own
// op family (conv.go), differentiable any number of times.
func (b *Builder) Conv2d(x, w, bias Node, stride, pad int) Node {
	const op = "Conv2d"
	if !b.ok(op, x, w) {
		return Node{}
	}
	xs, ws, bs := x.Shape(), w.Shape(), bias.Shape()
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1] || (bias.n != nil && (len(bs) != 1 || bs[0] != ws[0])) {
		return b.fail(op, fmt.Errorf("shapes x%v w%v bias%v, want [B,C,H,W] [O,C,kh,kw] [O] (or no bias)", xs, ws, bs))
	}
	if stride < 1 || pad < 0 {
		return b.fail(op, fmt.Errorf("stride %d pad %d: want stride >= 1, pad >= 0", stride, pad))
	}
	if xs[2]+2*pad < ws[2] || xs[3]+2*pad < ws[3] {
		return b.fail(op, fmt.Errorf("kernel %dx%d larger than padded input %dx%d", ws[2], ws[3], xs[2]+2*pad, xs[3]+2*pad))
	}
	fx, fw, in := b.boundOf(x), b.boundOf(w), float64(ws[1]*ws[2]*ws[3])
	fb := func([]float64, float64) float64 { return 0 }
	in2 := []*gorgonia.Node{x.n, w.n}
	if bias.n != nil {
		fb = b.boundOf(bias)
		in2 = append(in2, bias.n)
	}
	out := b.guard(op, func() (*gorgonia.Node, error) {
		return newConvOp(convForward, newConvGeom(xs, ws, stride, pad), bias.n != nil).apply(in2...)
	})
	return b.track(out, func(pm []float64, xm float64) float64 {
		return float64(in*fw(pm, xm)*fx(pm, xm)) + fb(pm, xm)
	})
}

// MaxPool2d is nn.MaxPool2d(size) (stride = size, no padding, floor mode) on x [B,C,H,W].
func (b *Builder) MaxPool2d(x Node, size int) Node {
	return b.pool("MaxPool2d", maxPool, x, size, size, size, 0)
}

// MaxPool2dStrided is nn.MaxPool2d(kernel, stride, padding) (floor mode; padding is never
// the maximum) on x [B,C,H,W].
func (b *Builder) MaxPool2dStrided(x Node, kernel, stride, pad int) Node {
	return b.pool("MaxPool2d", maxPool, x, kernel, kernel, stride, pad)
}

// AvgPool2d is nn.AvgPool2d(kernel, stride, padding) (floor mode, zero padding counted in
// the average) on x [B,C,H,W].
func (b *Builder) AvgPool2d(x Node, kernel, stride, pad int) Node {
	return b.pool("AvgPool2d", avgPool, x, kernel, kernel, stride, pad)
}

// GlobalAvgPool averages each channel of x [B,C,H,W] into [B,C,1,1]
// (nn.AdaptiveAvgPool2d(1)).
func (b *Builder) GlobalAvgPool(x Node) Node {
	xs := x.Shape()
	if len(xs) != 4 {
		if !b.ok("GlobalAvgPool", x) {
			return Node{}
		}
		return b.fail("GlobalAvgPool", fmt.Errorf("input %v, want [B,C,H,W]", xs))
	}
	return b.pool("GlobalAvgPool", avgPool, x, xs[2], xs[3], 1, 0)
}

func (b *Builder) pool(op string, kind poolKind, x Node, kh, kw, stride, pad int) Node {
	if !b.ok(op, x) {
		return Node{}
	}
	xs := x.Shape()
	if len(xs) != 4 || kh < 1 || kw < 1 || stride < 1 || pad < 0 || 2*pad > min(kh, kw) || xs[2]+2*pad < kh || xs[3]+2*pad < kw {
		return b.fail(op, fmt.Errorf("input %v, kernel %dx%d, stride %d, pad %d: want [B,C,H,W] with H,W+2pad >= kernel >= 1, stride >= 1, 0 <= pad <= kernel/2", xs, kh, kw, stride, pad))
	}
	out := b.guard(op, func() (*gorgonia.Node, error) {
		return newPoolOp(kind, newPoolGeom(xs, kh, kw, stride, pad)).apply(x.n)
	})
	return b.track(out, b.boundOf(x))
}

// Add is x + y elementwise for x and y of one shape (a residual connection).
func (b *Builder) Add(x, y Node) Node {
	const op = "Add"
	if !b.ok(op, x, y) {
		return Node{}
	}
	if xs, ys := x.Shape(), y.Shape(); !tensor.Shape(xs).Eq(tensor.Shape(ys)) {
		return b.fail(op, fmt.Errorf("shapes %v and %v differ", xs, ys))
	}
	out := b.guard(op, func() (*gorgonia.Node, error) { return b.elementwise(ewAdd, x.n, y.n) })
	fx, fy := b.boundOf(x), b.boundOf(y)
	return b.track(out, func(pm []float64, xm float64) float64 { return fx(pm, xm) + fy(pm, xm) })
}

// PadChannels is F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, before, after)) on
// x [B,C,H,W]: every stride-th row and column, with before zero channels in front and after
// behind, [B, before+C+after, ⌈H/stride⌉, ⌈W/stride⌉] (ResNet's option-A shortcut; stride 1
// pads only). Its own op pair (pad.go), differentiable any number of times.
func (b *Builder) PadChannels(x Node, stride, before, after int) Node {
	const op = "PadChannels"
	if !b.ok(op, x) {
		return Node{}
	}
	xs := x.Shape()
	if len(xs) != 4 || stride < 1 || before < 0 || after < 0 {
		return b.fail(op, fmt.Errorf("input %v, stride %d, pad %d+%d: want [B,C,H,W], stride >= 1, pads >= 0", xs, stride, before, after))
	}
	g := padGeom{B: xs[0], C: xs[1], H: xs[2], W: xs[3], Stride: stride, Before: before, After: after}
	out := b.guard(op, func() (*gorgonia.Node, error) { return newPadOp(padChannels, g).apply(x.n) })
	return b.track(out, b.boundOf(x))
}

// ReLU is max(x, 0) elementwise (pollab's own op, relu.go, bit-identical to gorgonia's
// Rectify).
func (b *Builder) ReLU(x Node) Node {
	if !b.ok("ReLU", x) {
		return Node{}
	}
	out := b.guard("ReLU", func() (*gorgonia.Node, error) { return newReluOp(false, x.Shape()).apply(x.n) })
	return b.track(out, b.boundOf(x))
}

// Tanh is tanh(x) elementwise.
func (b *Builder) Tanh(x Node) Node {
	if !b.ok("Tanh", x) {
		return Node{}
	}
	out := b.guard("Tanh", func() (*gorgonia.Node, error) { return opTanh.apply(x.n) })
	fx := b.boundOf(x)
	return b.track(out, func(pm []float64, xm float64) float64 { return min(1, fx(pm, xm)) })
}

// Flatten reshapes [B, ...] to [B, prod(...)] in row-major order (torch.flatten(x, 1)).
func (b *Builder) Flatten(x Node) Node {
	const op = "Flatten"
	if !b.ok(op, x) {
		return Node{}
	}
	xs := x.Shape()
	if len(xs) < 1 {
		return b.fail(op, fmt.Errorf("scalar input"))
	}
	if len(xs) == 2 {
		return x
	}
	prod := 1
	for _, d := range xs[1:] {
		prod *= d
	}
	out := b.guard(op, func() (*gorgonia.Node, error) {
		return newReshapeOp(xs, []int{xs[0], prod}).apply(x.n)
	})
	return b.track(out, b.boundOf(x))
}

// crossEntropy is the mean cross-entropy of logits z [B,K] against one-hot labels y [B,K],
// written from primitives (no SoftMax op) so that it can be differentiated twice:
// L = -(1/B) Σ y ⊙ (z - m - log Σ exp(z - m)), m = max over classes (stability shift).
func (b *Builder) crossEntropy(z, y Node) Node {
	const op = "cross-entropy"
	if !b.ok(op, z, y) {
		return Node{}
	}
	zs := z.Shape()
	if len(zs) != 2 {
		return b.fail(op, fmt.Errorf("logits shape %v, want [B,K]", zs))
	}
	B := zs[0]
	if ys := y.Shape(); len(ys) != 2 || ys[0] != B || ys[1] != zs[1] {
		return b.fail(op, fmt.Errorf("labels shape %v, want %v", ys, zs))
	}
	return b.guard(op, func() (*gorgonia.Node, error) {
		if !b.secondOrder {
			return newCEOp(false, B, zs[1]).apply(z.n, y.n)
		}
		m, err := gorgonia.Max(z.n, 1)
		if err != nil {
			return nil, err
		}
		if m, err = gorgonia.Reshape(m, tensor.Shape{B, 1}); err != nil {
			return nil, err
		}
		shifted, err := gorgonia.BroadcastSub(z.n, m, nil, []byte{1})
		if err != nil {
			return nil, err
		}
		e, err := opExp.apply(shifted)
		if err != nil {
			return nil, err
		}
		s, err := gorgonia.Sum(e, 1)
		if err != nil {
			return nil, err
		}
		lse, err := opLog.apply(s)
		if err != nil {
			return nil, err
		}
		if lse, err = gorgonia.Reshape(lse, tensor.Shape{B, 1}); err != nil {
			return nil, err
		}
		logp, err := gorgonia.BroadcastSub(shifted, lse, nil, []byte{1})
		if err != nil {
			return nil, err
		}
		yl, err := gorgonia.HadamardProd(y.n, logp)
		if err != nil {
			return nil, err
		}
		tot, err := gorgonia.Sum(yl)
		if err != nil {
			return nil, err
		}
		return gorgonia.Mul(tot, b.scalar(-1/float64(B)))
	})
}

func (b *Builder) scalar(v float64) *gorgonia.Node {
	if b.dt == Float32 {
		return gorgonia.NewConstant(float32(v))
	}
	return gorgonia.NewConstant(v)
}

// sqDist is Σ_i |a_i - c_i|² over tensors of equal shapes.
func (b *Builder) sqDist(a, c []*gorgonia.Node) Node {
	return b.guard("squared distance", func() (*gorgonia.Node, error) {
		var tot *gorgonia.Node
		for i := range a {
			d, err := gorgonia.Sub(a[i], c[i])
			if err != nil {
				return nil, err
			}
			sq, err := gorgonia.Square(d)
			if err != nil {
				return nil, err
			}
			s, err := gorgonia.Sum(sq)
			if err != nil {
				return nil, err
			}
			if tot == nil {
				tot = s
			} else if tot, err = gorgonia.Add(tot, s); err != nil {
				return nil, err
			}
		}
		if tot == nil {
			return nil, fmt.Errorf("no tensors")
		}
		return tot, nil
	})
}

// BatchNorm2d is nn.BatchNorm2d(C) (eps 1e-5, momentum 0.1, affine) on x [B,C,H,W] with
// gamma, beta [C] and running statistics runningMean, runningVar [C] (buffers; see
// Builder.Buffer). training normalises with the batch's mean and biased variance and
// records them, so that Engine.TrainGrad can commit the running statistics after a real
// training step (PyTorch's train mode); otherwise the running statistics normalise (eval
// mode). Training mode is pollab's fused op family (bn.go: statistics in one op, the
// normalisation in another, fused backward ops whose own derivatives are built from
// differentiable pieces); eval mode is composed of channel broadcasts and elementwise ops.
// Both differentiate any number of times.
func (b *Builder) BatchNorm2d(x, gamma, beta, runningMean, runningVar Node, training bool) Node {
	const op = "BatchNorm2d"
	if !b.ok(op, x, gamma, beta, runningMean, runningVar) {
		return Node{}
	}
	xs := x.Shape()
	if len(xs) != 4 {
		return b.fail(op, fmt.Errorf("input %v, want [B,C,H,W]", xs))
	}
	for _, p := range []Node{gamma, beta, runningMean, runningVar} {
		if s := p.Shape(); len(s) != 1 || s[0] != xs[1] {
			return b.fail(op, fmt.Errorf("input %v with parameter or buffer %v, want [%d]", xs, s, xs[1]))
		}
	}
	n := xs[0] * xs[2] * xs[3]
	if training && n < 2 {
		return b.fail(op, fmt.Errorf("input %v: training needs more than one value per channel", xs))
	}
	var stats *gorgonia.Node
	out := b.guard(op, func() (*gorgonia.Node, error) {
		if training {
			// The fused family (bn.go): the batch's [mean; biased variance], then
			// (x - mean)·γ/√(var+ε) + β.
			var err error
			if stats, err = newBNOp(bnStats, false, xs).apply(x.n); err != nil {
				return nil, err
			}
			return newBNOp(bnNorm, false, xs).apply(x.n, gamma.n, beta.n, stats)
		}
		bcast := func(v *gorgonia.Node) (*gorgonia.Node, error) { return newChanOp(chanBcast, xs, false).apply(v) }
		// y = x·s + (β - μ·s), s = γ/√(σ²+ε)
		scale, err := b.bnScale(gamma.n, runningVar.n)
		if err != nil {
			return nil, err
		}
		ms, err := gorgonia.HadamardProd(runningMean.n, scale)
		if err != nil {
			return nil, err
		}
		shift, err := gorgonia.Sub(beta.n, ms)
		if err != nil {
			return nil, err
		}
		sb, err := bcast(scale)
		if err != nil {
			return nil, err
		}
		y, err := b.elementwise(ewMul, x.n, sb)
		if err != nil {
			return nil, err
		}
		hb, err := bcast(shift)
		if err != nil {
			return nil, err
		}
		return b.elementwise(ewAdd, y, hb)
	})
	if out.n != nil && training {
		b.stats = append(b.stats, batchStats{stats: stats, runningMean: runningMean.n, runningVar: runningVar.n, n: n})
	}
	fg, fb, fm := b.boundOf(gamma), b.boundOf(beta), b.boundOf(runningMean)
	fx := b.boundOf(x)
	return b.track(out, func(pm []float64, xm float64) float64 {
		if training { // |x - mean| / σ <= √(n-1)
			return float64(fg(pm, xm)*math.Sqrt(float64(n))) + fb(pm, xm)
		}
		return float64(fg(pm, xm)*(fx(pm, xm)+fm(pm, xm))/math.Sqrt(bnEps)) + fb(pm, xm)
	})
}

// elementwise applies kind to xs: pollab's op (ew.go), or in a second-order program
// gorgonia's (see Builder.secondOrder).
func (b *Builder) elementwise(kind ewKind, xs ...*gorgonia.Node) (*gorgonia.Node, error) {
	if !b.secondOrder {
		return newEWOp(kind, xs[0].Shape()).apply(xs...)
	}
	switch kind {
	case ewAdd:
		return gorgonia.Add(xs[0], xs[1])
	case ewSub:
		return gorgonia.Sub(xs[0], xs[1])
	case ewMul:
		return gorgonia.HadamardProd(xs[0], xs[1])
	case ewSquare:
		return gorgonia.Square(xs[0])
	}
	return nil, fmt.Errorf("no gorgonia op for %v", kind)
}

// BatchNorm2d's constants (PyTorch's defaults).
const (
	bnEps      = 1e-5
	bnMomentum = 0.1
)

// batchStats is what a training-mode BatchNorm2d records: its batch statistics (bnStats:
// [2,C], the mean and the biased variance over n values per channel) and the buffers they
// update.
type batchStats struct {
	stats                   *gorgonia.Node
	runningMean, runningVar *gorgonia.Node
	n                       int
}

// bnScale is γ / √(variance + ε).
func (b *Builder) bnScale(gamma, variance *gorgonia.Node) (*gorgonia.Node, error) {
	ve, err := gorgonia.Add(variance, b.scalar(bnEps))
	if err != nil {
		return nil, err
	}
	// gorgonia's InverseSqrt differentiates wrongly (TestOpDerivativesMatchFiniteDifferences
	// caught it); Sqrt and HadamardDiv are right.
	sd, err := gorgonia.Sqrt(ve)
	if err != nil {
		return nil, err
	}
	return gorgonia.HadamardDiv(gamma, sd)
}
