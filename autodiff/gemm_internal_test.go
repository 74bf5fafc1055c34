package autodiff

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// TestGemmMatchesGonum checks every transpose combination, shapes with ragged edges, beta 0,
// 1 and 0.5, against gonum's GEMM (to rounding), and that the SIMD and pure-Go kernels give
// identical bits (TestGemmAnyWorkerCount: one or several goroutines).
func TestGemmMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	shapes := [][3]int{{1, 1, 1}, {4, 16, 3}, {5, 17, 9}, {37, 70, 41}, {128, 130, 65}, {8, 8, 0}, {3, 2, 7}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, beta := range []float64{0, 1, 0.5} {
					lda, ldb, ldc := k+2, n+3, n+1
					if tA {
						lda = m + 2
					}
					if tB {
						ldb = k + 3
					}
					rows := func(tr bool, r0, r1 int) int {
						if tr {
							return r1
						}
						return r0
					}
					a := randSlice(r, max(rows(tA, m, k)*lda, 1))
					b := randSlice(r, max(rows(tB, k, n)*ldb, 1))
					c0 := randSlice(r, max(m*ldc, 1))
					tr := func(x bool) blas.Transpose {
						if x {
							return blas.Trans
						}
						return blas.NoTrans
					}
					want := append([]float64(nil), c0...)
					gonum.Implementation{}.Dgemm(tr(tA), tr(tB), m, n, k, 1, a, lda, b, ldb, beta, want, ldc)

					got := append([]float64(nil), c0...)
					gemmBLAS{}.Dgemm(tr(tA), tr(tB), m, n, k, 1, a, lda, b, ldb, beta, got, ldc)
					for i := range want {
						if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
							t.Fatalf("%v tA=%v tB=%v beta=%v: c[%d]=%v, gonum %v", s, tA, tB, beta, i, got[i], want[i])
						}
					}
					var buf []float64
					pure := append([]float64(nil), c0...)
					gemm(tA, tB, m, n, k, a, lda, b, ldb, beta, pure, ldc, &buf, nil, 8)
					for i := range got {
						if math.Float64bits(got[i]) != math.Float64bits(pure[i]) {
							t.Fatalf("%v tA=%v tB=%v: kernel %v, pure Go %v at %d", s, tA, tB, got[i], pure[i], i)
						}
					}

					a32, b32, c32 := to32(a), to32(b), to32(c0)
					got32 := append([]float32(nil), c32...)
					gemmBLAS{}.Sgemm(tr(tA), tr(tB), m, n, k, 1, a32, lda, b32, ldb, float32(beta), got32, ldc)
					var buf32 []float32
					pure32 := append([]float32(nil), c32...)
					gemm(tA, tB, m, n, k, a32, lda, b32, ldb, float32(beta), pure32, ldc, &buf32, nil, 16)
					for i := range got32 {
						if math.Float32bits(got32[i]) != math.Float32bits(pure32[i]) {
							t.Fatalf("f32 %v tA=%v tB=%v: kernel %v, pure Go %v at %d", s, tA, tB, got32[i], pure32[i], i)
						}
						if math.Abs(float64(got32[i])-want[i]) > 1e-4*(1+math.Abs(want[i]))*math.Sqrt(float64(k+1)) {
							t.Fatalf("f32 %v tA=%v tB=%v: c[%d]=%v, gonum f64 %v", s, tA, tB, i, got32[i], want[i])
						}
					}
				}
			}
		}
	}
}

func randSlice(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.Float64()*2 - 1
	}
	return s
}

func to32(s []float64) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// TestGemmAnyWorkerCount runs a product large enough to be split across goroutines with
// GOMAXPROCS 1, 2, 3 and 8 (checking that gemm really uses that many workers, and 1 for a
// small product) and requires identical bits, f64 and f32, every transpose combination.
func TestGemmAnyWorkerCount(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := rand.New(rand.NewPCG(5, 6))
	const m, n, k = 130, 67, 61 // m·n·k > gemmParallelFlops; m/4 = 32 row blocks; ragged edges
	a, b, c0 := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			lda, ldb := k, n
			if tA {
				lda = m
			}
			if tB {
				ldb = k
			}
			var ref []float64
			var ref32 []float32
			for _, procs := range []int{1, 2, 3, 8} {
				runtime.GOMAXPROCS(procs)
				if w := gemmWorkers(m, n, k); w != procs {
					t.Fatalf("GOMAXPROCS %d: gemm uses %d workers", procs, w)
				}
				if w := gemmWorkers(8, 8, 8); w != 1 {
					t.Fatalf("GOMAXPROCS %d: a small product uses %d workers, want 1", procs, w)
				}
				var buf []float64
				got := append([]float64(nil), c0...)
				gemm(tA, tB, m, n, k, a, lda, b, ldb, 0.5, got, n, &buf, dgemmKernel, 8)
				var buf32 []float32
				got32 := to32(c0)
				gemm(tA, tB, m, n, k, to32(a), lda, to32(b), ldb, 0.5, got32, n, &buf32, sgemmKernel, 16)
				if ref == nil {
					ref, ref32 = got, got32
					continue
				}
				for i := range ref {
					if math.Float64bits(got[i]) != math.Float64bits(ref[i]) || math.Float32bits(got32[i]) != math.Float32bits(ref32[i]) {
						t.Fatalf("tA=%v tB=%v GOMAXPROCS %d: element %d differs from one worker's", tA, tB, procs, i)
					}
				}
			}
		}
	}
}

// gemmShapes are BenchmarkGemmVsGonum's products (m, n, k, transposes) as the engine calls
// them: the MNIST MLP's first layer (mlp:784-128-10, batch 128) forward, weight gradient and
// input gradient, and a LeNet-5-sized im2col convolution (16 filters of 6×5×5 over a batch of
// 64 10×10 maps).
var gemmShapes = []struct {
	name    string
	m, n, k int
	tA, tB  bool
}{
	{"mlp-forward", 128, 128, 784, false, true},
	{"mlp-weight-grad", 128, 784, 128, true, false},
	{"mlp-input-grad", 128, 784, 128, false, false},
	{"conv-im2col", 16, 6400, 150, false, false},
}

// BenchmarkGemmVsGonum times pollab's GEMM (gemmBLAS: the SIMD kernels where the CPU has
// them) against gonum's (what gorgonia would use) on gemmShapes, interleaved: each iteration
// is one pair (in alternating order), gonum's time over pollab's; it reports the median ratio
// of the pairs (the upper one of an even count) as
// x-gonum (above 1: pollab is faster). Run with -benchtime=9x or so for a stable median.
func BenchmarkGemmVsGonum(b *testing.B) {
	for _, s := range gemmShapes {
		b.Run(s.name+"/f32", func(b *testing.B) {
			benchGemmPair(b, s.m, s.n, s.k, s.tA, s.tB, to32, gemmBLAS{}.Sgemm, gonum.Implementation{}.Sgemm)
		})
		b.Run(s.name+"/f64", func(b *testing.B) {
			id := func(x []float64) []float64 { return x }
			benchGemmPair(b, s.m, s.n, s.k, s.tA, s.tB, id, gemmBLAS{}.Dgemm, gonum.Implementation{}.Dgemm)
		})
	}
}

func benchGemmPair[T float](b *testing.B, m, n, k int, tA, tB bool, conv func([]float64) []T,
	ours, theirs func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)) {
	r := rand.New(rand.NewPCG(5, 6))
	a, bm, c := conv(randSlice(r, m*k)), conv(randSlice(r, k*n)), make([]T, m*n)
	tr := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	run := func(f func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)) time.Duration {
		t0 := time.Now()
		f(tr(tA), tr(tB), m, n, k, 1, a, lda, bm, ldb, 0, c, n)
		return time.Since(t0)
	}
	run(ours) // warm the scratch pools and caches
	run(theirs)
	ratios := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		var mine, gon time.Duration
		if i%2 == 0 { // alternate which goes first, so neither always meets the warmer cache
			mine, gon = run(ours), run(theirs)
		} else {
			gon, mine = run(theirs), run(ours)
		}
		ratios = append(ratios, float64(gon)/float64(mine))
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-gonum")
}
