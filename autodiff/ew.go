package autodiff

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The elementwise family, closed under SymDiff: add, sub, mul (Hadamard), neg, square and
// twice (2x) on tensors of one shape. Each element is one rounded operation, as in
// gorgonia's Add, Sub, HadamardProd, Neg and Square, and the derivatives are gorgonia's
// expressions (add: g, g; sub: g, -g; mul: y·g, x·g; neg: -g; square: (x·2)·g), so the
// values are the same bits; unlike gorgonia's ops they own their output and allocate
// nothing per run. BatchNorm2d's pieces and residual additions use them in first-order
// programs.
type ewKind uint8

const (
	ewAdd ewKind = iota
	ewSub
	ewMul
	ewNeg
	ewSquare
	ewTwice
)

func (k ewKind) String() string {
	return [...]string{"Add", "Sub", "Mul", "Neg", "Square", "Twice"}[k]
}

func (k ewKind) arity() int {
	if k <= ewMul {
		return 2
	}
	return 1
}

type ewOp struct {
	ownedOp
	diffAll
	kind  ewKind
	shape []int
}

func newEWOp(kind ewKind, shape []int) ewOp {
	op := ewOp{kind: kind, shape: append([]int(nil), shape...)}
	ins := [][]int{shape, shape}[:kind.arity()]
	op.out = newOwned(op.String(), shape, ins...)
	op.out.k32 = func(ts []tensor.Tensor, out []float32) { runEW(op.kind, ts, out) }
	op.out.k64 = func(ts []tensor.Tensor, out []float64) { runEW(op.kind, ts, out) }
	return op
}

func (op ewOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

func (op ewOp) String() string { return fmt.Sprintf("pollab.%v%v", op.kind, op.shape) }

// ewChunk is the number of elements one goroutine handles at a time; elements are
// independent, so the split does not change any bit.
const ewChunk = 1 << 15

func runEW[T float](kind ewKind, ts []tensor.Tensor, out []T) {
	x := data[T](ts[0])[:len(out)]
	var y []T
	if len(ts) > 1 {
		y = data[T](ts[1])[:len(out)]
	}
	parallel((len(out)+ewChunk-1)/ewChunk, func(_, c int) {
		lo, hi := c*ewChunk, min(len(out), (c+1)*ewChunk)
		ew(kind, x[lo:hi], y[min(lo, len(y)):min(hi, len(y))], out[lo:hi])
	})
}

// ew computes out = kind(x, y) element by element (y is empty for the unary kinds).
func ew[T float](kind ewKind, x, y, out []T) {
	out = out[:len(x)]
	switch kind {
	case ewAdd:
		y = y[:len(x)]
		for i, v := range x {
			out[i] = v + y[i]
		}
	case ewSub:
		y = y[:len(x)]
		for i, v := range x {
			out[i] = v - y[i]
		}
	case ewMul:
		y = y[:len(x)]
		for i, v := range x {
			out[i] = v * y[i]
		}
	case ewNeg:
		for i, v := range x {
			out[i] = -v
		}
	case ewSquare:
		for i, v := range x {
			out[i] = v * v
		}
	case ewTwice:
		for i, v := range x {
			out[i] = v * 2
		}
	}
}

func (op ewOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkSymDiff(op, in); err != nil {
		return nil, err
	}
	ew := func(k ewKind, xs ...*gorgonia.Node) (*gorgonia.Node, error) { return newEWOp(k, op.shape).apply(xs...) }
	var d0, d1 *gorgonia.Node
	var err error
	switch op.kind {
	case ewAdd:
		d0, d1 = grad, grad
	case ewSub:
		d0 = grad
		d1, err = ew(ewNeg, grad)
	case ewMul:
		if d0, err = ew(ewMul, in[1], grad); err == nil {
			d1, err = ew(ewMul, in[0], grad)
		}
	case ewNeg:
		d0, err = ew(ewNeg, grad)
	case ewSquare:
		var two *gorgonia.Node
		if two, err = ew(ewTwice, in[0]); err == nil {
			d0, err = ew(ewMul, two, grad)
		}
	case ewTwice:
		d0, err = ew(ewTwice, grad)
	}
	if err != nil {
		return nil, err
	}
	if op.Arity() == 2 {
		return gorgonia.Nodes{d0, d1}, nil
	}
	return gorgonia.Nodes{d0}, nil
}
