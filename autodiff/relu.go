package autodiff

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The ReLU pair, closed under SymDiff: relu(x) = x·m and reluMask(x, g) = g·m with the mask
// m = 1 where x >= 0, else 0. relu differentiates into reluMask(x, ·); reluMask is linear in
// g (its derivative is reluMask(x, ·) again) and piecewise constant in x (not differentiated).
// The products with the mask are exactly gorgonia's Rectify (x ⊙ (x >= 0)) and its gradient,
// signed zeros included, without its per-run allocations and extra passes.
type reluOp struct {
	ownedOp
	mask  bool // reluMask(x, g) instead of relu(x)
	shape []int
	st    *reluState
}

func newReluOp(mask bool, shape []int) reluOp {
	ins := [][]int{shape, shape}[:1+b2i(mask)]
	op := reluOp{mask: mask, shape: append([]int(nil), shape...)}
	op.out, op.st = newOwned(op.String(), shape, ins...), &reluState{}
	op.out.k32 = func(ts []tensor.Tensor, out []float32) { runRelu(op.st, ts, out) }
	op.out.k64 = func(ts []tensor.Tensor, out []float64) { runRelu(op.st, ts, out) }
	return op
}

func (op reluOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

func (op reluOp) String() string {
	if op.mask {
		return fmt.Sprintf("pollab.ReLUMask%v", op.shape)
	}
	return fmt.Sprintf("pollab.ReLU%v", op.shape)
}

// reluRun is an op's kernel for one dtype with the current run's slices, kept with the op
// so that a run allocates nothing; chunks of reluChunk elements run in parallel (elements
// are independent: the split does not change any bit).
type reluRun[T float] struct {
	x, v, out []T
	f         func(worker, i int)
}

type reluState struct {
	r32 *reluRun[float32]
	r64 *reluRun[float64]
}

const reluChunk = 1 << 14

func runRelu[T float](st *reluState, ts []tensor.Tensor, out []T) {
	var r *reluRun[T]
	switch p := any(&r).(type) {
	case **reluRun[float32]:
		if st.r32 == nil {
			st.r32 = &reluRun[float32]{}
			st.r32.f = st.r32.chunk
		}
		*p = st.r32
	case **reluRun[float64]:
		if st.r64 == nil {
			st.r64 = &reluRun[float64]{}
			st.r64.f = st.r64.chunk
		}
		*p = st.r64
	}
	r.x, r.out = data[T](ts[0]), out
	r.v = r.x
	if len(ts) > 1 {
		r.v = data[T](ts[1])
	}
	parallel((len(out)+reluChunk-1)/reluChunk, r.f)
}

func (r *reluRun[T]) chunk(_, c int) {
	lo, hi := c*reluChunk, min(len(r.out), (c+1)*reluChunk)
	reluMul(r.x[lo:hi], r.v[lo:hi], r.out[lo:hi])
}

// reluMulGo writes out[i] = v[i]·m[i], m = 0 for negative non-zero x[i], else 1 (x = v:
// relu; v a gradient: its mask).
func reluMulGo[T float](x, v, out []T) {
	v, out = v[:len(x)], out[:len(x)]
	switch x := any(x).(type) {
	case []float32:
		for i, xi := range x {
			// m = 0 exactly for negative non-zero x (bits above 0x80000000), branch-free.
			neg := (int64(0x80000000) - int64(math.Float32bits(xi))) >> 63 & 1
			out[i] = v[i] * T(1-neg)
		}
	case []float64:
		for i, xi := range x {
			u := math.Float64bits(xi)
			neg := int64(u>>63) & int64(min(u<<1, 1)) // sign set and magnitude non-zero
			out[i] = v[i] * T(1-neg)
		}
	}
}

func (op reluOp) DiffWRT(n int) []bool { return diffSecondOfTwo(n) }

func (op reluOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := newReluOp(true, op.shape).apply(in[0], grad)
	if err != nil {
		return nil, err
	}
	if op.mask {
		return gorgonia.Nodes{nil, d}, nil
	}
	return gorgonia.Nodes{d}, nil
}
