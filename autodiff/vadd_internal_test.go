package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddToMatchesGoLoop: addTo (the AVX2 loop where there is one) gives the pure-Go loop's
// bits for every length up to 40, at every offset, in float32 and float64.
func TestAddToMatchesGoLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := 0; n <= 40; n++ {
		for off := 0; off < 3; off++ {
			s32, d32 := make([]float32, n+off), make([]float32, n+off)
			s64, d64 := make([]float64, n+off), make([]float64, n+off)
			for i := range s32 {
				s32[i], d32[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*1e3)
				s64[i], d64[i] = r.NormFloat64(), r.NormFloat64()*1e3
			}
			w32, w64 := append([]float32(nil), d32...), append([]float64(nil), d64...)
			addToGo(w32[off:], s32[off:])
			addToGo(w64[off:], s64[off:])
			addTo(d32[off:], s32[off:])
			addTo(d64[off:], s64[off:])
			for i := range w32 {
				if math.Float32bits(w32[i]) != math.Float32bits(d32[i]) || math.Float64bits(w64[i]) != math.Float64bits(d64[i]) {
					t.Fatalf("n %d offset %d element %d: addTo %v %v, Go loop %v %v", n, off, i, d32[i], d64[i], w32[i], w64[i])
				}
			}
		}
	}
}

// TestReluMulMatchesGoLoop: reluMul (the AVX2 loop where there is one) gives the pure-Go
// loop's bits, signed zeros, subnormals and infinite gradients included, in float32 and
// float64, for every length up to 40.
func TestReluMulMatchesGoLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	special := []float64{0, math.Copysign(0, -1), 5e-324, -5e-324, 1e-45, -1e-45, math.Inf(1), math.Inf(-1), 1, -1}
	val := func() float64 {
		if r.IntN(3) == 0 {
			return special[r.IntN(len(special))]
		}
		return r.NormFloat64()
	}
	for n := 0; n <= 40; n++ {
		x32, v32, x64, v64 := make([]float32, n), make([]float32, n), make([]float64, n), make([]float64, n)
		for i := 0; i < n; i++ {
			x32[i], v32[i], x64[i], v64[i] = float32(val()), float32(val()), val(), val()
		}
		for _, same := range []bool{false, true} {
			vv32, vv64 := v32, v64
			if same {
				vv32, vv64 = x32, x64
			}
			g32, w32 := make([]float32, n), make([]float32, n)
			g64, w64 := make([]float64, n), make([]float64, n)
			reluMul(x32, vv32, g32)
			reluMulGo(x32, vv32, w32)
			reluMul(x64, vv64, g64)
			reluMulGo(x64, vv64, w64)
			for i := 0; i < n; i++ {
				if math.Float32bits(g32[i]) != math.Float32bits(w32[i]) || math.Float64bits(g64[i]) != math.Float64bits(w64[i]) {
					t.Fatalf("n %d element %d (x %v %v, v %v %v): reluMul %v %v, Go loop %v %v", n, i, x32[i], x64[i], vv32[i], vv64[i], g32[i], g64[i], w32[i], w64[i])
				}
			}
		}
	}
}
