//go:build !openblas

package autodiff

// blasName reports which BLAS this build uses: gonum's pure-Go implementation by default, so
// that a fresh machine needs only Go (see blas_openblas.go for the opt-in).
const blasName = "gonum"
