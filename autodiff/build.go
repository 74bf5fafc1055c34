package autodiff

import (
	"fmt"
	"runtime"
)

// Semantics is the version of the numbers this engine and the optimizer compute. Bump it in
// the same commit as any change that alters a result bit (a gradient, an update, an
// initialisation, a data point): it is part of every cache key (BuildKey), so a bump makes
// every cached proof, re-execution and Evidence stale. prover's TestSemanticsGolden pins the
// bytes of short training runs to this value and fails until the bump is made.
//
// History: 1 (implicit) until FMA-free updates, PyTorch's float32 SGD and arch-independent
// exp/log/tanh; 2 until the fused training-mode BatchNorm2d (float64 channel sums, another summation
// order: BatchNorm/ResNet numbers moved; nets without BatchNorm2d compute the same bits);
// 3 until normal-law initialisations (kaiming, ResNet) drew by the polar method
// (internal/detmath.Normal) instead of math/rand/v2's NormFloat64; 4 since.
const Semantics = 4

// Build names what produced a proof: the engine semantics, the GEMM/BLAS build, the
// architecture and the Go version. Recorded in every proof's provenance.json.
type Build struct {
	Semantics int    `json:"semantics"`
	BLAS      string `json:"blas"`
	GOARCH    string `json:"goarch"`
	Go        string `json:"go"`
}

// ThisBuild is the running binary's build.
func ThisBuild() Build {
	return Build{Semantics: Semantics, BLAS: BLAS(), GOARCH: runtime.GOARCH, Go: runtime.Version()}
}

// Key is the part of the build that cache keys carry: semantics, BLAS and GOARCH.
func (b Build) Key() string {
	return fmt.Sprintf("semantics=%d blas=%s goarch=%s", b.Semantics, b.BLAS, b.GOARCH)
}

// String is the build on one line.
func (b Build) String() string { return fmt.Sprintf("%s go=%s", b.Key(), b.Go) }

// SameResults reports whether b and o compute the same bits by construction: equal semantics
// and BLAS builds (the architecture and Go version are designed not to matter; the
// cross-architecture test checks it).
func (b Build) SameResults(o Build) bool { return b.Semantics == o.Semantics && b.BLAS == o.BLAS }
