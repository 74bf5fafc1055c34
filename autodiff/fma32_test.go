package autodiff_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"pollab/autodiff"
)

// exactFMA32 is the oracle: a·b + c in exact arithmetic, rounded once to float32.
func exactFMA32(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(400).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(400).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(400).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// TestFMA32 compares FMA32 with an exact big.Float oracle on random operands and on operands
// built so that a·b + c lies just off a float32 tie, where float32(math.FMA(a, b, c)) rounds
// twice and is wrong: the test fails if FMA32 ever disagrees with the oracle, and if the
// constructed cases never catch double rounding (they would then test nothing).
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	f32 := func() float32 {
		return float32(math.Ldexp(r.Float64()*2-1, r.IntN(40)-20))
	}
	n := 200000
	if testing.Short() { // e.g. under qemu in the cross-architecture test
		n = 20000
	}
	doubleWrong := 0
	check := func(a, b, c float32) {
		t.Helper()
		want := exactFMA32(a, b, c)
		if got := autodiff.FMA32(a, b, c); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("FMA32(%b, %b, %b) = %b, exact rounding %b", a, b, c, got, want)
		}
		if math.Float32bits(float32(math.FMA(float64(a), float64(b), float64(c)))) != math.Float32bits(want) {
			doubleWrong++
		}
	}
	for range n {
		check(f32(), f32(), f32())
	}
	// Near ties: a·b = ±2⁻²⁴·(1 − k²·2⁻⁴⁶) with a = 1 + k·2⁻²³, b = 2⁻²⁴·(1 − k·2⁻²³), so that
	// c + a·b (c in [1, 2), ulp 2⁻²³) lies k²·2⁻⁷⁰ off a float32 tie, below float64's
	// resolution: float64 rounds onto the tie and the second rounding goes to even.
	for range n {
		k := float64(1 + r.IntN(360))
		a := float32(1 + k*0x1p-23)
		b := float32(0x1p-24 * (1 - k*0x1p-23))
		if r.IntN(2) == 0 {
			b = -b
		}
		c := float32(1 + float64(r.IntN(1<<23))*0x1p-23)
		if r.IntN(2) == 0 {
			c = -c
		}
		check(a, b, c)
	}
	if doubleWrong == 0 {
		t.Fatal("no operands where float32(math.FMA) rounds twice wrongly: the near-tie cases test nothing")
	}
	t.Logf("float32(math.FMA) rounded twice wrongly in %d of %d cases; FMA32 in none", doubleWrong, 2*n)
	for _, v := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32} {
		want := exactFMA32Special(v, 2, 0)
		if got := autodiff.FMA32(v, 2, 0); !(got == want || (got != got && want != want)) {
			t.Errorf("FMA32(%v, 2, 0) = %v, want %v", v, got, want)
		}
	}
}

// exactFMA32Special is float32 arithmetic for operands big.Float cannot hold (Inf, NaN).
func exactFMA32Special(a, b, c float32) float32 {
	return float32(float64(a)*float64(b) + float64(c))
}
