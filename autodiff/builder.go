package autodiff

import (
	"fmt"

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
	// transposed while copying from the flat vector, which is much cheaper than gorgonia's
	// Transpose op on every run and its gradient.
	transposedLeaf func(w *gorgonia.Node) *gorgonia.Node
}

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
// w [O,C,kh,kw], bias [O], result [B,O,H',W'].
func (b *Builder) Conv2d(x, w, bias Node, stride, pad int) Node {
	const op = "Conv2d"
	if !b.ok(op, x, w, bias) {
		return Node{}
	}
	xs, ws, bs := x.Shape(), w.Shape(), bias.Shape()
	if len(xs) != 4 || len(ws) != 4 || len(bs) != 1 || xs[1] != ws[1] || bs[0] != ws[0] {
		return b.fail(op, fmt.Errorf("shapes x%v w%v bias%v, want [B,C,H,W] [O,C,kh,kw] [O]", xs, ws, bs))
	}
	if stride < 1 || pad < 0 {
		return b.fail(op, fmt.Errorf("stride %d pad %d: want stride >= 1, pad >= 0", stride, pad))
	}
	if xs[2]+2*pad < ws[2] || xs[3]+2*pad < ws[3] {
		return b.fail(op, fmt.Errorf("kernel %dx%d larger than padded input %dx%d", ws[2], ws[3], xs[2]+2*pad, xs[3]+2*pad))
	}
	fx, fw, fb, in := b.boundOf(x), b.boundOf(w), b.boundOf(bias), float64(ws[1]*ws[2]*ws[3])
	out := b.guard(op, func() (*gorgonia.Node, error) {
		y, err := gorgonia.Conv2d(x.n, w.n, tensor.Shape{ws[2], ws[3]}, []int{pad, pad}, []int{stride, stride}, []int{1, 1})
		if err != nil {
			return nil, err
		}
		col, err := gorgonia.Reshape(bias.n, tensor.Shape{1, bs[0], 1, 1})
		if err != nil {
			return nil, err
		}
		return gorgonia.BroadcastAdd(y, col, nil, []byte{0, 2, 3})
	})
	return b.track(out, func(pm []float64, xm float64) float64 {
		return float64(in*fw(pm, xm)*fx(pm, xm)) + fb(pm, xm)
	})
}

// MaxPool2d is nn.MaxPool2d(size) (stride = size, no padding, floor mode) on x [B,C,H,W].
func (b *Builder) MaxPool2d(x Node, size int) Node {
	const op = "MaxPool2d"
	if !b.ok(op, x) {
		return Node{}
	}
	xs := x.Shape()
	if len(xs) != 4 || size < 1 || xs[2] < size || xs[3] < size {
		return b.fail(op, fmt.Errorf("input %v, size %d: want [B,C,H,W] with H,W >= size >= 1", xs, size))
	}
	out := b.guard(op, func() (*gorgonia.Node, error) {
		return gorgonia.MaxPool2D(x.n, tensor.Shape{size, size}, []int{0, 0}, []int{size, size})
	})
	return b.track(out, b.boundOf(x))
}

// ReLU is max(x, 0) elementwise.
func (b *Builder) ReLU(x Node) Node {
	if !b.ok("ReLU", x) {
		return Node{}
	}
	out := b.guard("ReLU", func() (*gorgonia.Node, error) { return gorgonia.Rectify(x.n) })
	return b.track(out, b.boundOf(x))
}

// Tanh is tanh(x) elementwise.
func (b *Builder) Tanh(x Node) Node {
	if !b.ok("Tanh", x) {
		return Node{}
	}
	out := b.guard("Tanh", func() (*gorgonia.Node, error) { return gorgonia.Tanh(x.n) })
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
		return gorgonia.Reshape(x.n, tensor.Shape{xs[0], prod})
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
	return b.guard(op, func() (*gorgonia.Node, error) {
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
		e, err := gorgonia.Exp(shifted)
		if err != nil {
			return nil, err
		}
		s, err := gorgonia.Sum(e, 1)
		if err != nil {
			return nil, err
		}
		lse, err := gorgonia.Log(s)
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
