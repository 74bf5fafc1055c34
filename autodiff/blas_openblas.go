//go:build openblas

package autodiff

import (
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// With -tags openblas (and CGO_LDFLAGS=-lopenblas, Debian package libopenblas-dev), every
// GEMM runs through OpenBLAS via cgo instead of gonum's pure-Go BLAS: about 4x on an MLP.
// Set OPENBLAS_NUM_THREADS=1 when several engines run in parallel. Results stay
// deterministic run to run but differ in the last bits from the pure-Go build.
func init() { gorgonia.Use(netlib.Implementation{}) }

// blasName reports which BLAS this build uses.
const blasName = "openblas"
