package detmath

import (
	"math"
	"math/rand/v2"
)

// Normal draws a standard normal deviate N(0, 1) from r by Marsaglia's polar method (Marsaglia
// & Bray 1964): it takes uniforms a, b from r.Float64() in that order until Polar(a, b)
// accepts, and returns Polar's deviate; the second deviate the method yields is discarded so
// that every call starts afresh (no state besides r). Acceptance is π/4, so a call consumes
// 8/π ≈ 2.55 uniforms on average.
//
// math/rand/v2's NormFloat64 (a ziggurat) is not used: its wedge and tail call math.Exp and
// math.Log, whose bits differ by architecture. Normal's bits depend only on r's Float64
// stream: Polar uses Log and math.Sqrt (correctly rounded) with every product rounded, so a
// normal-law initialisation is the same bits on amd64, arm64 and purego. The polar method
// was chosen over Box-Muller because it needs no sine or cosine.
func Normal(r *rand.Rand) float64 {
	for {
		a := r.Float64()
		b := r.Float64()
		if z, ok := Polar(a, b); ok {
			return z
		}
	}
}

// Polar is one trial of the polar method on uniforms a, b in [0, 1): with u = 2a-1, v = 2b-1
// and s = u² + v², it rejects (ok false) unless 0 < s < 1, and otherwise returns
// z = u·√(-2·ln(s)/s), a standard normal deviate when a and b are independent uniforms.
// Every operation is rounded to float64 on its own: u and v and the doubling are exact,
// u², v², their sum, the quotient, the square root and the product are each rounded once,
// and ln is Log.
func Polar(a, b float64) (z float64, ok bool) {
	u := float64(2*a) - 1
	v := float64(2*b) - 1
	s := float64(u*u) + float64(v*v)
	if s >= 1 || s == 0 {
		return 0, false
	}
	return u * math.Sqrt(float64(-2*Log(s))/s), true
}
