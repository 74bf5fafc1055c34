//go:build !openblas

package autodiff

import "gorgonia.org/gorgonia"

// By default every GEMM runs on gemm.go's kernels (pure Go with an AVX2 fast path, same bits
// either way) and the rest of BLAS on gonum, so that a fresh machine needs only Go (see
// blas_openblas.go for the opt-in).
func init() { gorgonia.Use(gemmBLAS{}) }

// blasName reports which BLAS this build uses.
const blasName = "gonum+pollab-gemm"
