package autodiff

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The per-channel pair: chanSum sums x [B,C,H,W] (or [B,C]) over everything but the
// channel axis into [C]; chanBcast repeats v [C] over [B,C,H,W] (or [B,C]). Each is the
// other's adjoint, so each differentiates into the other. Conv2d's bias gradient and
// BatchNorm2d's statistics and affine transform are built from them, and on [B,C] Linear's
// bias gradient: there the sum starts from the first value (fromFirst) as gorgonia's
// reduction over axis 0 does, not from +0 (the two differ in the sign of an all-zero sum).

type chanKind uint8

const (
	chanSum chanKind = iota
	chanBcast
)

type chanOp struct {
	ownedOp
	diffAll
	kind      chanKind
	shape     []int // the [B,C,H,W] or [B,C] side
	fromFirst bool  // chanSum starts from the first value, not from +0
}

// newChanOp makes a member of the pair on the big side shape; fromFirst only on [B,C].
func newChanOp(kind chanKind, shape []int, fromFirst bool) chanOp {
	op := chanOp{kind: kind, shape: append([]int(nil), shape...), fromFirst: fromFirst && len(shape) == 2}
	in := []int{shape[1]}
	if kind == chanSum {
		in = shape
	}
	op.out = newOwned(op.String(), op.outShape(), in)
	op.out.k32 = func(ts []tensor.Tensor, out []float32) { runChan(op, data[float32](ts[0]), out) }
	op.out.k64 = func(ts []tensor.Tensor, out []float64) { runChan(op, data[float64](ts[0]), out) }
	return op
}

func (op chanOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

func (op chanOp) outShape() []int {
	if op.kind == chanSum {
		return []int{op.shape[1]}
	}
	return op.shape
}

func (op chanOp) String() string {
	return fmt.Sprintf("pollab.%s%v/first=%v", [...]string{"ChanSum", "ChanBcast"}[op.kind], op.shape, op.fromFirst)
}

// runChan sums (per channel: samples in order, positions in order) or broadcasts.
func runChan[T float](op chanOp, in, out []T) {
	B, C, hw := op.shape[0], op.shape[1], 1
	for _, d := range op.shape[2:] {
		hw *= d
	}
	if op.kind == chanBcast { // copies: samples are independent
		parallel(B, func(_, b int) {
			for c := 0; c < C; c++ {
				seg := out[(b*C+c)*hw : (b*C+c+1)*hw]
				for i := range seg {
					seg[i] = in[c]
				}
			}
		})
		return
	}
	if op.fromFirst { // [B,C] only: gorgonia's order, row 0 copied, then rows added in order
		copy(out, in[:C])
		for b := 1; b < B; b++ {
			for c, v := range in[b*C : (b+1)*C] {
				out[c] += v
			}
		}
		return
	}
	parallel(C, func(_, c int) {
		var s T
		for b := 0; b < B; b++ {
			for _, v := range in[(b*C+c)*hw : (b*C+c+1)*hw] {
				s += v
			}
		}
		out[c] = s
	})
}

func (op chanOp) SymDiff(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := newChanOp(1-op.kind, op.shape, op.fromFirst).apply(grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{d}, nil
}
