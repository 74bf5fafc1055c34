package autodiff

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The matrix-product family, closed under SymDiff:
//
//	mm(a, b)          C[m,n] = op(A)·op(B), op = identity or transpose (tA, tB)
//	linear(x, w, c)   Y[B,out] = X·op(W) + c, c [out] added to every row (nn.Linear)
//
// A product is bilinear, so its derivatives are products again (gorgonia's matMulDiffExpr
// rules: for C = A·B, dA = G·Bᵀ and dB = Aᵀ·G, and likewise for the transposed forms);
// linear's bias derivative is the column sum of G (chanSum on [B,out], summed from the
// first row as gorgonia's reduction does), whose derivative is the broadcast back.
//
// Every product runs on gemm.go's kernels with beta 0: each element is the sum over k in
// order of rounded products, the same bits as gorgonia's Mul through the same kernels,
// whichever operand is transposed. The output and the transposition scratch are owned and
// reused.
type mmOp struct {
	ownedOp
	diffAll
	tA, tB  bool
	m, n, k int
	bias    bool // linear: a third input [n] added to every row
	st      *mmState
}

type mmState struct {
	s32 []float32
	s64 []float64
}

func newMMOp(tA, tB bool, m, n, k int, bias bool) mmOp {
	op := mmOp{tA: tA, tB: tB, m: m, n: n, k: k, bias: bias, st: &mmState{}}
	ins := [][]int{op.aShape(), op.bShape()}
	if bias {
		ins = append(ins, []int{n})
	}
	op.out = newOwned(op.String(), []int{m, n}, ins...)
	op.out.k32 = func(ts []tensor.Tensor, out []float32) { runMM(op, ts, out, &op.st.s32) }
	op.out.k64 = func(ts []tensor.Tensor, out []float64) { runMM(op, ts, out, &op.st.s64) }
	return op
}

func (op mmOp) aShape() []int {
	if op.tA {
		return []int{op.k, op.m}
	}
	return []int{op.m, op.k}
}

func (op mmOp) bShape() []int {
	if op.tB {
		return []int{op.n, op.k}
	}
	return []int{op.k, op.n}
}

func (op mmOp) apply(in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(op, in...)
}

func (op mmOp) String() string {
	name := "MatMul"
	if op.bias {
		name = "Linear"
	}
	return fmt.Sprintf("pollab.%s[%dx%dx%d]/tA=%v/tB=%v", name, op.m, op.n, op.k, op.tA, op.tB)
}

func runMM[T float](op mmOp, ts []tensor.Tensor, c []T, scratch *[]T) {
	a, b := data[T](ts[0]), data[T](ts[1])
	lda, ldb := op.k, op.n
	if op.tA {
		lda = op.m
	}
	if op.tB {
		ldb = op.k
	}
	kern, width := kernelFor[T]()
	gemm(op.tA, op.tB, op.m, op.n, op.k, a, lda, b, ldb, 0, c, op.n, scratch, kern, width)
	if !op.bias {
		return
	}
	bias := data[T](ts[2])
	for i := 0; i < op.m; i++ {
		row := c[i*op.n : (i+1)*op.n]
		for j, v := range bias {
			row[j] += v
		}
	}
}

func (op mmOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkSymDiff(op, in); err != nil {
		return nil, err
	}
	a, b, m, n, k := in[0], in[1], op.m, op.n, op.k
	// dA has A's stored shape, dB has B's (gorgonia's matMulDiffExpr).
	var da, db *gorgonia.Node
	var err error
	switch {
	case !op.tA && !op.tB: // dA = G·Bᵀ [m,k], dB = Aᵀ·G [k,n]
		if da, err = newMMOp(false, true, m, k, n, false).apply(grad, b); err == nil {
			db, err = newMMOp(true, false, k, n, m, false).apply(a, grad)
		}
	case !op.tA && op.tB: // C = A·Bᵀ: dA = G·B [m,k], dB = Gᵀ·A [n,k]
		if da, err = newMMOp(false, false, m, k, n, false).apply(grad, b); err == nil {
			db, err = newMMOp(true, false, n, k, m, false).apply(grad, a)
		}
	case op.tA && !op.tB: // C = Aᵀ·B: dA = B·Gᵀ [k,m], dB = A·G [k,n]
		if da, err = newMMOp(false, true, k, m, n, false).apply(b, grad); err == nil {
			db, err = newMMOp(false, false, k, n, m, false).apply(a, grad)
		}
	default: // C = Aᵀ·Bᵀ: dA = Bᵀ·Gᵀ [k,m], dB = Gᵀ·Aᵀ [n,k]
		if da, err = newMMOp(true, true, k, m, n, false).apply(b, grad); err == nil {
			db, err = newMMOp(true, true, n, k, m, false).apply(grad, a)
		}
	}
	if err != nil {
		return nil, err
	}
	if !op.bias {
		return gorgonia.Nodes{da, db}, nil
	}
	dc, err := newChanOp(chanSum, []int{m, n}, true).apply(grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{da, db, dc}, nil
}
