package stats

import (
	"math"
	"testing"
)

// Reference values of P(D_n >= d) for the two-sided one-sample statistic. They were computed
// with scipy 1.10.1: scipy.stats.kstwo.sf(d, n) where scipy evaluates it exactly (n <= 140,
// or n > 140 with n·d^1.5 <= 1.4), and scipy.stats._ksstats._kolmogn_DMTW(n, d) (the exact
// Marsaglia-Tsang-Wang matrix, complemented) where kstwo itself falls back to the approximate
// Pelz-Good series (those rows are marked "DMTW"; Pelz-Good differs from them by up to 4e-7).
// Closed forms cross-check the small ones: n=1: 2(1-d); n=2, 1/4 <= d <= 1/2: 1 - (4d-1)²/2;
// n·d >= n-1: 2(1-d)^n.
var ksExactRef = []struct {
	n    int
	d, p float64
}{
	{1, 0.7, 0.6},                         // 2(1-d)
	{2, 0.3, 0.98},                        // 1 - (4d-1)²/2
	{2, 0.6, 0.32},                        // 2(1-d)²
	{5, 0.15, 0.99880000000000002},        // Ruben-Gambino region
	{5, 0.3, 0.66400000000000003},         // matrix
	{5, 0.6, 0.03008000000000001},         // d >= 1/2: 2·Smirnov
	{10, 0.2, 0.74871903999999989},        // matrix
	{10, 0.35, 0.13396054626249909},       // matrix
	{20, 0.1, 0.97625509459215498},        // matrix
	{50, 0.12, 0.43376796613102331},       // matrix
	{100, 0.05, 0.95321597106357248},      // matrix
	{100, 0.1, 0.25269275700638738},       // matrix
	{100, 0.2, 0.00055519273279887749},    // n·d² = 4: 2·Smirnov
	{140, 0.08, 0.31480749911642869},      // DMTW
	{500, 0.03, 0.74731662218084416},      // DMTW
	{1000, 0.02, 0.81089713107021377},     // DMTW
	{1000, 0.05, 0.013012071309976971},    // DMTW, n·d² = 2.5: 2·Smirnov here
	{2000, 0.025, 0.16136032172745457},    // DMTW
	{5000, 0.01, 0.69545572564189562},     // DMTW
	{10000, 0.008, 0.54144322450153759},   // DMTW
	{10000, 0.02, 0.00066168486401377985}, // DMTW, 2·Smirnov here
}

func TestKolmogorovSFMatchesReference(t *testing.T) {
	for _, c := range ksExactRef {
		got := kolmogorovSF(c.n, c.d)
		if math.Abs(got-c.p) > 1e-6 {
			t.Errorf("P(D_%d >= %g) = %.12g, want %.12g (diff %.2g)", c.n, c.d, got, c.p, got-c.p)
		}
	}
}

// The matrix method must agree with the closed forms wherever both apply, independently of
// the region dispatch in kolmogorovSF.
func TestDurbinMatrixAgreesWithClosedForms(t *testing.T) {
	// n = 2, 1/4 <= d <= 1/2: P(D_2 < d) = (4d-1)²/2 (Ruben-Gambino with n = 2).
	for _, d := range []float64{0.26, 0.3, 0.4, 0.49} {
		want := (4*d - 1) * (4*d - 1) / 2
		if got := durbinCDF(2, d); math.Abs(got-want) > 1e-12 {
			t.Errorf("durbinCDF(2, %g) = %.15g, want %.15g", d, got, want)
		}
	}
	// d >= 1/2: two-sided tail is exactly twice the one-sided Smirnov tail.
	for _, c := range []struct {
		n int
		d float64
	}{{5, 0.6}, {7, 0.55}, {30, 0.5}} {
		want := 2 * smirnovSF(c.n, c.d)
		if got := 1 - durbinCDF(c.n, c.d); math.Abs(got-want) > 1e-10 {
			t.Errorf("n=%d d=%g: matrix %.15g, 2·Smirnov %.15g", c.n, c.d, got, want)
		}
	}
	// n·d >= n-1: 2(1-d)^n.
	if got, want := 1-durbinCDF(4, 0.8), 2*math.Pow(0.2, 4); math.Abs(got-want) > 1e-12 {
		t.Errorf("n=4 d=0.8: matrix %.15g, closed form %.15g", got, want)
	}
}

// Reference values of the Kolmogorov distribution's tail: scipy.stats.kstwobign.sf(x).
func TestKolmogorovAsymptoticMatchesReference(t *testing.T) {
	ref := []struct{ x, p float64 }{
		{0.3, 0.99999069419866549},
		{0.5, 0.96394524366487511},
		{0.8, 0.54414241157419807},
		{1.0, 0.26999967167735456},
		{1.2, 0.11224966667072497},
		{1.36, 0.049485876755377876},
		{1.5, 0.022217962616525127},
		{2.0, 0.00067092525577969533},
	}
	for _, c := range ref {
		if got := kolmogorovAsymptoticSF(c.x); math.Abs(got-c.p) > 1e-9 {
			t.Errorf("Q(%g) = %.15g, want %.15g", c.x, got, c.p)
		}
	}
	// The two series are the same function: they must agree where both converge (near 1).
	for _, x := range []float64{0.9, 1.0, 1.1} {
		alt := 0.0
		for k := 1; k < 50; k++ {
			alt += 2 * math.Pow(-1, float64(k-1)) * math.Exp(-2*float64(k*k)*x*x)
		}
		if got := kolmogorovAsymptoticSF(x); math.Abs(got-alt) > 1e-12 {
			t.Errorf("x=%g: theta form vs alternating series %.15g vs %.15g", x, got, alt)
		}
	}
}

// At large n the exact distribution approaches the asymptotic one (slowly: O(1/sqrt n)).
func TestExactConvergesToAsymptotic(t *testing.T) {
	n := 10000
	for _, x := range []float64{0.6, 1.0, 1.3} {
		exact := kolmogorovSF(n, x/math.Sqrt(float64(n)))
		asym := kolmogorovAsymptoticSF(x)
		if math.Abs(exact-asym) > 0.01 {
			t.Errorf("n=%d x=%g: exact %.6f vs asymptotic %.6f", n, x, exact, asym)
		}
	}
}

func uniformCDF(x float64) float64 { return math.Min(1, math.Max(0, x)) }

// End-to-end statistic and p-value against scipy.stats.kstest(x, "uniform"): method="exact"
// for n <= 10000 (the n = 300 p-value is the DMTW value, see above), method="asymp" above.
func TestKSTestStatisticAndPValue(t *testing.T) {
	pow := func(n int, e float64) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = math.Pow((float64(i)+0.5)/float64(n), e)
		}
		return x
	}
	cases := []struct {
		name string
		x    []float64
		d, p float64
	}{
		{"n=3", []float64{0.8, 0.1, 0.5}, 0.23333333333333331, 0.98577777777777775},
		{"n=300", pow(300, 1.1), 0.036716018319720156, 0.79933314282537626},
		{"n=20000 asymptotic", pow(20000, 1.02), 0.0073098604336384043, 0.23554386777591574},
	}
	for _, c := range cases {
		d, p := KSTest(c.x, uniformCDF)
		if math.Abs(d-c.d) > 1e-12 || math.Abs(p-c.p) > 1e-6 {
			t.Errorf("%s: D=%.15g p=%.12g, want D=%.15g p=%.12g", c.name, d, p, c.d, c.p)
		}
	}
}

func TestKSTestDegenerateInputs(t *testing.T) {
	if d, p := KSTest(nil, uniformCDF); d != 0 || p != 1 {
		t.Errorf("empty: D=%g p=%g, want 0, 1", d, p)
	}
	if d, p := KSTest([]float64{0.2, math.NaN()}, uniformCDF); d != 1 || p != 0 {
		t.Errorf("NaN sample: D=%g p=%g, want 1, 0", d, p)
	}
	// A sample far outside the law: D = 1, p = 0.
	if d, p := KSTest([]float64{5, 6, 7, 8}, uniformCDF); d != 1 || p != 0 {
		t.Errorf("out of support: D=%g p=%g, want 1, 0", d, p)
	}
}
