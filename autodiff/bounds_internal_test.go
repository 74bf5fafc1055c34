package autodiff

import (
	"math"
	"testing"
)

// TestMaxAbs checks the bit-pattern maximum against the plain definition, and that any NaN
// or infinity anywhere (including the unrolled tail) gives +Inf.
func TestMaxAbs(t *testing.T) {
	naive := func(vs []float64) float64 {
		var m float64
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return math.Inf(1)
			}
			m = math.Max(m, math.Abs(v))
		}
		return m
	}
	base := []float64{0.5, -3, math.Copysign(0, -1), 5e-324, -2.5, 1e300, -1e301, 7}
	for n := 0; n <= len(base); n++ {
		vs := base[:n]
		if got, want := maxAbs(vs), naive(vs); got != want {
			t.Fatalf("maxAbs(%v) = %v, want %v", vs, got, want)
		}
		for pos := 0; pos < n; pos++ {
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -math.NaN()} {
				w := append([]float64(nil), vs...)
				w[pos] = bad
				if got := maxAbs(w); !math.IsInf(got, 1) {
					t.Fatalf("maxAbs with %v at %d of %d = %v, want +Inf", bad, pos, n, got)
				}
			}
		}
	}
}
