package autodiff

import (
	"errors"
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"pollab/internal/detmath"
)

// The mean cross-entropy of logits z [B,K] against one-hot labels y [B,K] as one op, and
// its gradient dL/dz as a second one: what Builder.crossEntropy's composition of gorgonia
// ops (max shift, exp, sum, log, broadcast subtractions, product with y, sum, scale by
// -1/B) and the derivative gorgonia's Backpropagate builds from it compute, in the same
// operations and the same order, so the bits are the same (TestEngineGolden), without the
// composition's twenty-odd nodes and their allocations on every run.
//
// Forward, per row: m = max_j z_j (first value, then each later one if larger), shifted =
// z - m, e = exp(shifted), s = Σ_j e_j from +0, lse = log(s), logp = shifted - lse; then
// tot = Σ_{b,j} y⊙logp from +0 in row-major order and L = tot·c, c = -1/B in the dtype.
//
// Backward from the scalar gradient g: dtot = c·g, dlogp = y·dtot, dlse = Σ_j -dlogp_j,
// ds = dlse/s, dshifted = dlogp + e·ds, dm = Σ_j -dshifted_j, dz = dshifted + dm·[z = m].
//
// The gradient op is first-order only: its SymDiff fails. Second-order programs
// (GradMatch) build the composition of gorgonia ops instead (Builder.secondOrder).
type ceOp struct {
	ownedOp
	grad bool // the gradient op: (z, y, g) → dz [B,K]
	b, k int
	st   *ceState
}

type ceState struct {
	f32 *gorgonia.F32 // the forward op's output
	f64 *gorgonia.F64
	s32 ceScratch[float32]
	s64 ceScratch[float64]
}

type ceScratch[T float] struct{ shifted, e []T }

func newCEOp(grad bool, b, k int) ceOp {
	op := ceOp{grad: grad, b: b, k: k, st: &ceState{}}
	op.out = newOwned(op.String(), []int{b, k}, []int{b, k}, []int{b, k})
	return op
}

func (op ceOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

func (op ceOp) Arity() int {
	if op.grad {
		return 3
	}
	return 2
}

func (op ceOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := gorgonia.TensorType{Dims: 2, Of: a}
	if op.grad {
		return hm.NewFnType(m, m, a, m)
	}
	return hm.NewFnType(m, m, a)
}

func (op ceOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	if op.grad {
		return tensor.Shape{op.b, op.k}, nil
	}
	return tensor.ScalarShape(), nil
}

func (op ceOp) String() string {
	if op.grad {
		return fmt.Sprintf("pollab.CrossEntropyGrad[%d,%d]", op.b, op.k)
	}
	return fmt.Sprintf("pollab.CrossEntropy[%d,%d]", op.b, op.k)
}

func (op ceOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(vs) != op.Arity() {
		return nil, fmt.Errorf("%v: %d inputs, want %d", op, len(vs), op.Arity())
	}
	if !op.grad {
		ts, err := op.out.dense(vs...)
		if err != nil {
			return nil, err
		}
		if ts[0].Dtype() == tensor.Float32 {
			if op.st.f32 == nil {
				op.st.f32 = new(gorgonia.F32)
			}
			*op.st.f32 = gorgonia.F32(ceForward(op, ts, &op.st.s32))
			return op.st.f32, nil
		}
		if op.st.f64 == nil {
			op.st.f64 = new(gorgonia.F64)
		}
		*op.st.f64 = gorgonia.F64(ceForward(op, ts, &op.st.s64))
		return op.st.f64, nil
	}
	ts, out, err := op.out.run(vs[:2])
	if err != nil {
		return nil, err
	}
	switch g := vs[2].(type) {
	case *gorgonia.F32:
		if out.Dtype() == tensor.Float32 {
			ceBackward(op, ts, float32(*g), data[float32](out), &op.st.s32)
			return out, nil
		}
	case *gorgonia.F64:
		if out.Dtype() == tensor.Float64 {
			ceBackward(op, ts, float64(*g), data[float64](out), &op.st.s64)
			return out, nil
		}
	}
	return nil, fmt.Errorf("%v: gradient %T does not match logits of %v", op, vs[2], out.Dtype())
}

func (op ceOp) UsePreallocDo(_ gorgonia.Value, vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.Do(vs...)
}

// ceScale is -1/B rounded to T (the composition's constant).
func ceScale[T float](b int) T { return T(-1 / float64(b)) }

// ceRows computes, for each row, m, shifted, e and s, and returns lse per row through f.
func ceRows[T float](op ceOp, z []T, s *ceScratch[T], row func(b int, m, sum, lse T)) {
	s.shifted, s.e = grow(s.shifted, len(z)), grow(s.e, len(z))
	for b := 0; b < op.b; b++ {
		zr := z[b*op.k : (b+1)*op.k]
		sh, e := s.shifted[b*op.k:(b+1)*op.k], s.e[b*op.k:(b+1)*op.k]
		m := zr[0]
		for _, v := range zr[1:] {
			if !(m > v) {
				m = v
			}
		}
		var sum T
		for j, v := range zr {
			sh[j] = v - m
			e[j] = T(detmath.Exp(float64(sh[j])))
			sum += e[j]
		}
		row(b, m, sum, T(detmath.Log(float64(sum))))
	}
}

func ceForward[T float](op ceOp, ts []tensor.Tensor, s *ceScratch[T]) T {
	z, y := data[T](ts[0]), data[T](ts[1])
	var tot T
	ceRows(op, z, s, func(b int, _, _, lse T) {
		for j, v := range s.shifted[b*op.k : (b+1)*op.k] {
			tot += T(y[b*op.k+j] * T(v-lse))
		}
	})
	return T(tot * ceScale[T](op.b))
}

func ceBackward[T float](op ceOp, ts []tensor.Tensor, g T, dz []T, s *ceScratch[T]) {
	z, y := data[T](ts[0]), data[T](ts[1])
	dtot := T(ceScale[T](op.b) * g)
	ceRows(op, z, s, func(b int, m, sum, _ T) {
		yr, zr := y[b*op.k:(b+1)*op.k], z[b*op.k:(b+1)*op.k]
		e, d := s.e[b*op.k:(b+1)*op.k], dz[b*op.k:(b+1)*op.k]
		var dlse T
		for j := range d {
			d[j] = T(yr[j] * dtot) // dlogp
			dlse += -d[j]
		}
		ds := T(dlse / sum)
		var dm T
		for j := range d {
			d[j] += T(e[j] * ds) // dshifted
			dm += -d[j]
		}
		for j, v := range zr {
			var eq T
			if v == m {
				eq = 1
			}
			d[j] += T(dm * eq)
		}
	})
}

func (op ceOp) DiffWRT(n int) []bool {
	if op.grad {
		return []bool{true, false, true}
	}
	return []bool{true, false}
}

var errCEGradSecondOrder = errors.New("pollab.CrossEntropyGrad is first-order only: second-order programs build cross-entropy from gorgonia's ops")

func (op ceOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.grad {
		return nil, errCEGradSecondOrder
	}
	d, err := newCEOp(true, op.b, op.k).apply(in[0], in[1], grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{d, nil}, nil
}
