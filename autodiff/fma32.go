package autodiff

import "math"

// FMA32 returns a·b + c computed exactly and rounded once to float32 (round to nearest,
// ties to even), as a float32 fused multiply-add instruction does: what PyTorch's CPU kernels
// compute for add_(x, alpha=a) (vec::fmadd) in float32.
//
// float32(math.FMA(a, b, c)) would round twice: the product of two float32 is exact in float64
// (24+24 <= 53 bits), but the sum a·b + c may need more than 53 bits, and when float64's
// rounding lands exactly on a float32 tie the second rounding can go the wrong way (e.g.
// a = 1+2⁻²³, b = 2⁻²⁴·(1−2⁻²³), c = 1+2⁻²³: exactly 1 + 3·2⁻²⁴ − 2⁻⁷⁰, float64 gives the
// tie 1 + 3·2⁻²⁴, float32 then rounds to even, 1+2⁻²², where the correct result is 1+2⁻²³).
// FMA32 therefore rounds the float64 sum to odd: the exact error of p + c is recovered
// by TwoSum (exact because p = a·b is), and when it is non-zero the float64 result is moved to
// the neighbour with an odd last bit. A value rounded to odd with at least two extra bits
// rounds correctly to the narrower format (Boldo & Melquiond, "Emulation of FMA and correctly
// rounded sums: proved algorithms using rounding to odd", IEEE TC 2008); float64 has 29.
// Go's math.FMA is correctly rounded on every architecture, so FMA32 gives the same bits
// everywhere.
func FMA32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b)) // exact
	s := p + float64(c)
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	// TwoSum (Knuth): s + e == p + c exactly. Explicit float64() conversions keep the
	// compiler from fusing any of these operations.
	bb := float64(s - p)
	e := float64(p-float64(s-bb)) + float64(float64(c)-bb)
	if e != 0 && math.Float64bits(s)&1 == 0 {
		s = math.Nextafter(s, math.Inf(int(math.Copysign(1, e))))
	}
	return float32(s)
}
