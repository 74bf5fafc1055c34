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
