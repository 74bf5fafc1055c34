package stats

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// KSExactMaxN is the largest sample size for which KSTest computes the exact distribution of
// D_n (as scipy.stats.kstest's method="auto" does); above it the asymptotic Kolmogorov
// distribution of sqrt(n)·D_n is used.
const KSExactMaxN = 10000

// KSTest is the two-sided one-sample Kolmogorov-Smirnov test of x against a continuous cdf:
// d = sup |F_n - F| = max(D+, D-), p = P(D_n >= d) under the null hypothesis.
//
// The p-value, for n <= KSExactMaxN, is exact (see kolmogorovSF); for larger n it is the
// asymptotic Kolmogorov tail Q(sqrt(n)·d) = 2 Σ (-1)^(k-1) exp(-2k²n d²).
//
// An empty sample gives d = 0, p = 1. A sample with NaN (or a cdf that returns NaN) gives
// d = 1, p = 0: nothing can be drawn from a law as NaN.
func KSTest(x []float64, cdf func(float64) float64) (d, p float64) {
	n := len(x)
	if n == 0 {
		return 0, 1
	}
	s := slices.Clone(x)
	for _, v := range s {
		if math.IsNaN(v) {
			return 1, 0
		}
	}
	slices.Sort(s)
	fn := float64(n)
	for i, v := range s {
		f := cdf(v)
		if math.IsNaN(f) {
			return 1, 0
		}
		if up := float64(i+1)/fn - f; up > d {
			d = up
		}
		if down := f - float64(i)/fn; down > d {
			d = down
		}
	}
	d = math.Min(d, 1)
	if n <= KSExactMaxN {
		return d, kolmogorovSF(n, d)
	}
	return d, kolmogorovAsymptoticSF(math.Sqrt(fn) * d)
}

// kolmogorovSF is P(D_n >= d) for the two-sided statistic of n samples, computed exactly
// region by region (the same regions scipy's kstwo uses; the formulas are the textbook ones):
//   - n·d <= 1/2: p = 1 (D_n >= 1/(2n) always);
//   - 1/2 < n·d <= 1: Ruben & Gambino (1982): P(D_n < d) = n!/n^n · (2nd - 1)^n;
//   - n·d >= n - 1: p = 2(1-d)^n (only one sample can be out of place);
//   - d >= 1/2 or n·d² >= 2.2: p = 2·P(D+_n >= d) with the exact one-sided Smirnov-
//     Birnbaum-Tingey sum. For d >= 1/2 the events D+ >= d and D- >= d are disjoint so this
//     is exact; for n·d² >= 2.2 the overlap is below 2·exp(-8·2.2) ≈ 5e-8 (the next term of
//     the Kolmogorov series).
//   - otherwise the Durbin matrix, as Marsaglia, Tsang & Wang (2003), "Evaluating
//     Kolmogorov's distribution": P(D_n < d) = n!/n^n · (H^n)_kk for a (2k-1)² matrix H,
//     k = floor(n·d) + 1. Its cost is O(k³ log n), bounded here by n·d² < 2.2 and n <= 10⁴
//     (k < 150).
func kolmogorovSF(n int, d float64) float64 {
	if n <= 0 || d <= 0 {
		return 1
	}
	if d >= 1 {
		return 0
	}
	fn := float64(n)
	t := float64(fn * d)
	switch {
	case t <= 0.5:
		return 1
	case t <= 1:
		// n!/n^n (2t-1)^n in logs: lgamma(n+1) - n log n + n log(2t-1).
		lg, _ := math.Lgamma(fn + 1)
		return clip01(1 - math.Exp(lg-float64(fn*math.Log(fn))+float64(fn*math.Log(float64(2*t)-1))))
	case t >= fn-1:
		return clip01(2 * math.Pow(1-d, fn))
	case d >= 0.5 || t*d >= 2.2:
		return clip01(2 * smirnovSF(n, d))
	}
	return clip01(1 - durbinCDF(n, d))
}

// smirnovSF is the exact one-sided tail P(D+_n >= d) (Smirnov 1944; Birnbaum & Tingey 1951):
// d · Σ_{j=0}^{floor(n(1-d))} C(n,j) (1-d-j/n)^(n-j) (d+j/n)^(j-1). Terms are summed in
// log space, so n up to KSExactMaxN does not overflow.
func smirnovSF(n int, d float64) float64 {
	if d <= 0 {
		return 1
	}
	if d >= 1 {
		return 0
	}
	fn := float64(n)
	lgN, _ := math.Lgamma(fn + 1)
	jmax := int(math.Floor(fn * (1 - d)))
	sum := 0.0
	for j := 0; j <= jmax; j++ {
		fj := float64(j)
		a := 1 - d - fj/fn
		var la float64
		switch {
		case n-j == 0:
			la = 0 // 0^0 = 1
		case a <= 0:
			continue
		default:
			la = (fn - fj) * math.Log(a)
		}
		lj, _ := math.Lgamma(fj + 1)
		lnj, _ := math.Lgamma(fn - fj + 1)
		sum += math.Exp(lgN - lj - lnj + la + float64((fj-1)*math.Log(d+fj/fn)))
	}
	return d * sum
}

// durbinCDF is P(D_n < d) by Marsaglia, Tsang & Wang's matrix method. The matrix power is
// taken by repeated squaring with the exponent of a power of 2 carried separately, so that
// intermediate values neither overflow nor underflow.
func durbinCDF(n int, d float64) float64 {
	fn := float64(n)
	k := int(fn*d) + 1
	m := 2*k - 1
	h := float64(k) - float64(fn*d)
	H := mat.NewDense(m, m, nil)
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if i-j+1 >= 0 {
				H.Set(i, j, 1)
			}
		}
	}
	for i := 0; i < m; i++ {
		H.Set(i, 0, H.At(i, 0)-math.Pow(h, float64(i+1)))
		H.Set(m-1, i, H.At(m-1, i)-math.Pow(h, float64(m-i)))
	}
	if 2*h-1 > 0 {
		H.Set(m-1, 0, H.At(m-1, 0)+math.Pow(2*h-1, float64(m)))
	}
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if g := i - j + 1; g > 0 {
				lf, _ := math.Lgamma(float64(g) + 1)
				H.Set(i, j, H.At(i, j)/math.Exp(lf))
			}
		}
	}
	q, e2 := matPow(H, n, k-1)
	// P = n!/n^n · q · 2^e2, assembled in logs.
	lg, _ := math.Lgamma(fn + 1)
	if q <= 0 {
		return 0
	}
	return clip01(math.Exp(lg - float64(fn*math.Log(fn)) + math.Log(q) + float64(float64(e2)*math.Ln2)))
}

// matPow returns (A^n)_cc as value · 2^exp, rescaling after each product.
func matPow(a *mat.Dense, n, c int) (float64, int) {
	m, _ := a.Dims()
	result := mat.NewDense(m, m, nil)
	for i := 0; i < m; i++ {
		result.Set(i, i, 1)
	}
	resExp := 0
	base := mat.DenseCopyOf(a)
	baseExp := 0
	tmp := mat.NewDense(m, m, nil)
	for n > 0 {
		if n&1 == 1 {
			tmp.Mul(result, base)
			result, tmp = tmp, result
			resExp += baseExp + rescale(result)
		}
		n >>= 1
		if n > 0 {
			tmp.Mul(base, base)
			base, tmp = tmp, base
			baseExp = 2*baseExp + rescale(base)
		}
	}
	return result.At(c, c), resExp
}

// rescale divides a by a power of two so that its largest entry is about 1, returning the
// exponent removed.
func rescale(a *mat.Dense) int {
	mx := mat.Norm(a, math.Inf(1)) // max row sum: a bound on every entry
	if mx == 0 || math.IsInf(mx, 0) || math.IsNaN(mx) {
		return 0
	}
	_, e := math.Frexp(mx)
	a.Scale(math.Ldexp(1, -e), a)
	return e
}

// kolmogorovAsymptoticSF is the Kolmogorov distribution's tail P(K >= x), K = sup|B(t)| of a
// Brownian bridge (scipy.stats.kstwobign.sf). For x >= 1 the alternating series
// 2 Σ (-1)^(k-1) exp(-2k²x²) converges in a few terms; below 1 the Jacobi theta form of the
// cdf, sqrt(2π)/x Σ exp(-(2k-1)²π²/(8x²)), does.
func kolmogorovAsymptoticSF(x float64) float64 {
	if x <= 0 {
		return 1
	}
	if x >= 1 {
		s := 0.0
		for k := 1; k <= 100; k++ {
			fk := float64(k)
			term := math.Exp(-2 * fk * fk * x * x)
			if k%2 == 1 {
				s += term
			} else {
				s -= term
			}
			if term < 1e-300 {
				break
			}
		}
		return clip01(2 * s)
	}
	c := 0.0
	for k := 1; k <= 100; k++ {
		f := float64(2*k - 1)
		term := math.Exp(-f * f * math.Pi * math.Pi / (8 * x * x))
		c += term
		if term < 1e-300 {
			break
		}
	}
	return clip01(1 - float64(math.Sqrt(2*math.Pi)/x*c))
}

func clip01(p float64) float64 {
	if math.IsNaN(p) {
		return 0
	}
	return math.Min(1, math.Max(0, p))
}
