package detmath_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"pollab/internal/detmath"
)

// TestDetMath: Exp, Log and Tanh agree with package math's to 2 ulp (both are
// within 1 ulp of the exact value; on amd64 math's Exp and Log are other algorithms in
// assembly), and the special cases are math's.
func TestDetMath(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ulps := func(a, b float64) float64 {
		if a == b {
			return 0
		}
		return math.Abs(a-b) / (math.Nextafter(math.Abs(b), math.Inf(1)) - math.Abs(b))
	}
	worst := map[string]float64{}
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for range n {
		x := (r.Float64() - 0.5) * 60
		y := math.Ldexp(r.Float64()+0.5, r.IntN(200)-100)
		for name, pair := range map[string][2]float64{
			"exp":  {detmath.Exp(x), math.Exp(x)},
			"log":  {detmath.Log(y), math.Log(y)},
			"tanh": {detmath.Tanh(x / 10), math.Tanh(x / 10)},
		} {
			worst[name] = max(worst[name], ulps(pair[0], pair[1]))
		}
	}
	for name, w := range worst {
		if w > 2 {
			t.Errorf("%s differs from math's by %.1f ulp", name, w)
		}
	}
	for _, c := range []struct{ got, want float64 }{
		{detmath.Exp(0), 1}, {detmath.Exp(math.Inf(-1)), 0}, {detmath.Exp(1000), math.Inf(1)},
		{detmath.Log(1), 0}, {detmath.Log(0), math.Inf(-1)}, {detmath.Tanh(0), 0}, {detmath.Tanh(100), 1},
	} {
		if c.got != c.want {
			t.Errorf("special case: got %v, want %v", c.got, c.want)
		}
	}
	if !math.IsNaN(detmath.Log(-1)) || !math.IsNaN(detmath.Exp(math.NaN())) {
		t.Error("NaN cases")
	}
}
