package autodiff

import (
	"fmt"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmBLAS is gonum's pure-Go BLAS with its matrix multiply (the bulk of every training
// step) replaced by gemm below: a register-blocked kernel that is several times faster than
// gonum's axpy-based GEMM on the shapes the lab's models produce (BenchmarkGemmVsGonum). Each element of C is
// accumulated over k in order with the product rounded before the add, by exactly one
// goroutine, so results are bit-identical run to run, across GOMAXPROCS and between the
// assembly and pure-Go kernels.
type gemmBLAS struct{ gonum.Implementation }

// kernel4 adds A[4,k]·B[k,w] into C for one 4×w block (w = gemmWidth[T]); a is addressed
// by element strides ai (rows) and ap (k steps).
type kernel4[T float] func(k int, a *T, ai, ap int, b *T, ldb int, c *T, ldc int)

type float interface{ ~float32 | ~float64 }

var (
	scratch32 = sync.Pool{New: func() any { return new([]float32) }}
	scratch64 = sync.Pool{New: func() any { return new([]float64) }}
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C in float32 (row-major, BLAS conventions).
func (gemmBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blasGemm(gonum.Implementation{}.Sgemm, &scratch32, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm computes C = alpha·op(A)·op(B) + beta·C in float64 (row-major, BLAS conventions).
func (gemmBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	blasGemm(gonum.Implementation{}.Dgemm, &scratch64, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// blasGemm is Sgemm and Dgemm: gemm with T's kernel (kernelFor) and a transpose buffer from
// scratch when alpha is 1, as gorgonia always multiplies; gonum's multiply (fallback, with the
// same arguments) for any other alpha.
func blasGemm[T float](fallback func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int), scratch *sync.Pool,
	tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if alpha != 1 {
		fallback(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	buf := scratch.Get().(*[]T)
	defer scratch.Put(buf)
	kern, width := kernelFor[T]()
	gemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, a, lda, b, ldb, beta, c, ldc, buf, kern, width)
}

// gemmParallelFlops is the size (m·n·k) above which rows are split across goroutines.
const gemmParallelFlops = 1 << 18

// gemm computes C = op(A)·op(B) + beta·C. A transposed B is first copied into scratch so that
// the kernel always reads B row-major; A is read through strides either way. kern may be nil
// (no SIMD kernel on this machine): then every block takes the pure-Go loop.
func gemm[T float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, scratch *[]T, kern kernel4[T], width int) {
	checkGemm(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if k == 0 {
		return
	}
	ai, ap := lda, 1
	if tA {
		ai, ap = 1, lda
	}
	if tB {
		if cap(*scratch) < k*n {
			*scratch = make([]T, k*n)
		}
		bt := (*scratch)[:k*n]
		for j := 0; j < n; j++ {
			col := b[j*ldb : j*ldb+k]
			for p, v := range col {
				bt[p*n+j] = v
			}
		}
		b, ldb = bt, n
	}
	workers := gemmWorkers(m, n, k)
	if workers <= 1 {
		gemmRows(0, m, n, k, a, ai, ap, b, ldb, c, ldc, kern, width)
		return
	}
	per := (m/4 + workers - 1) / workers * 4
	parallel((m+per-1)/per, func(_, part int) {
		i0 := part * per
		gemmRows(i0, min(i0+per, m), n, k, a, ai, ap, b, ldb, c, ldc, kern, width)
	})
}

// gemmWorkers is how many goroutines gemm splits an m×n×k product over: GOMAXPROCS for large
// products, at most one per 4 rows, 1 below gemmParallelFlops.
func gemmWorkers(m, n, k int) int {
	if m*n*k < gemmParallelFlops || m < 8 {
		return 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), m/4))
}

// gemmRows computes rows [i0,i1) of C: full 4×width blocks with kern, the rest in Go.
func gemmRows[T float](i0, i1, n, k int, a []T, ai, ap int, b []T, ldb int, c []T, ldc int, kern kernel4[T], width int) {
	iFull := i0 + (i1-i0)/4*4
	jFull := 0
	if kern != nil {
		kern8 := kernel8For(kern)
		jFull = n / width * width
		for j0 := 0; j0 < jFull; j0 += width {
			i := i0
			if kern8 != nil {
				for ; i+8 <= iFull; i += 8 {
					kern8(k, &a[i*ai], ai, ap, &b[j0], ldb, &c[i*ldc+j0], ldc)
				}
			}
			for ; i < iFull; i += 4 {
				kern(k, &a[i*ai], ai, ap, &b[j0], ldb, &c[i*ldc+j0], ldc)
			}
		}
	}
	gemmGo(i0, iFull, jFull, n, k, a, ai, ap, b, ldb, c, ldc)
	gemmGo(iFull, i1, 0, n, k, a, ai, ap, b, ldb, c, ldc)
}

// kernel8For returns the 8-row kernel of kern's dtype (nil when there is none): the same
// arithmetic per element on 8 rows at once.
func kernel8For[T float](kern kernel4[T]) kernel4[T] {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(sgemmKernel8).(kernel4[T])
	}
	return any(dgemmKernel8).(kernel4[T])
}

// gemmGo adds A·B into the block rows [i0,i1) × columns [j0,j1) of C, in the same order and
// rounding as the assembly kernels: for each element, products in k order, each rounded
// (the explicit conversion forbids fusing into an FMA) and then added.
func gemmGo[T float](i0, i1, j0, j1, k int, a []T, ai, ap int, b []T, ldb int, c []T, ldc int) {
	if j0 >= j1 {
		return
	}
	for i := i0; i < i1; i++ {
		crow := c[i*ldc+j0 : i*ldc+j1]
		for p := 0; p < k; p++ {
			av := a[i*ai+p*ap]
			brow := b[p*ldb+j0 : p*ldb+j1]
			for j, bv := range brow {
				crow[j] += T(av * bv)
			}
		}
	}
}

// checkGemm panics (as gonum does; gorgonia turns it into an error) when a slice is too
// short for the shapes and strides given.
func checkGemm(tA, tB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	if m < 0 || n < 0 || k < 0 || lda < max(1, ac) || ldb < max(1, bc) || ldc < max(1, n) ||
		(ar > 0 && ac > 0 && la < (ar-1)*lda+ac) || (br > 0 && bc > 0 && lb < (br-1)*ldb+bc) ||
		(m > 0 && n > 0 && lc < (m-1)*ldc+n) {
		panic(fmt.Sprintf("autodiff: gemm %dx%dx%d (trans %v %v): bad strides or short slices", m, n, k, tA, tB))
	}
}
