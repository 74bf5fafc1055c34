package stats

import (
	"encoding/json"
	"math"
	"testing"
)

func TestDistanceNorms(t *testing.T) {
	a := []float64{1, -2, 3, 0}
	b := []float64{0, 2, 3, -1}
	d := Distance(a, b)
	// differences 1, -4, 0, 1
	if d.L1 != 6 || math.Abs(d.L2-math.Sqrt(18)) > 1e-15 || d.Linf != 4 {
		t.Errorf("got %v, want l1=6 l2=sqrt(18) linf=4", d)
	}
	// <a,b> = -4+9 = 5, |a| = sqrt(14), |b| = sqrt(14)
	if want := 1 - 5/14.0; math.Abs(d.Cos-want) > 1e-15 {
		t.Errorf("cos = %.17g, want %.17g", d.Cos, want)
	}
}

// The reference code's bug divides by |a|²; the correct formula is symmetric and scale-free.
func TestCosineIsOneMinusNormalisedDot(t *testing.T) {
	a := []float64{3, 4}        // |a| = 5
	b := []float64{8, 6, 0}[:2] // |b| = 10, <a,b> = 48
	want := 1 - 48.0/50.0
	if got := Distance(a, b).Cos; math.Abs(got-want) > 1e-15 {
		t.Errorf("cos(a,b) = %.17g, want 1 - <a,b>/(|a||b|) = %.17g", got, want)
	}
	if buggy := 1 - 48.0/25.0; math.Abs(Distance(a, b).Cos-buggy) < 0.1 {
		t.Errorf("cos matches the |a|² formula")
	}
	if got := Distance(b, a).Cos; math.Abs(got-want) > 1e-15 {
		t.Errorf("cos not symmetric: %g vs %g", got, want)
	}
	// Scaling either vector leaves the cosine distance unchanged.
	if got := Distance([]float64{300, 400}, b).Cos; math.Abs(got-want) > 1e-15 {
		t.Errorf("cos not scale-invariant: %g", got)
	}
	// Opposite vectors are at distance 2, orthogonal at 1.
	if got := Distance([]float64{1, 2}, []float64{-1, -2}).Cos; math.Abs(got-2) > 1e-15 {
		t.Errorf("opposite: cos = %g, want 2", got)
	}
	if got := Distance([]float64{1, 0}, []float64{0, 5}).Cos; got != 1 {
		t.Errorf("orthogonal: cos = %g, want 1", got)
	}
}

func TestDistanceDegenerate(t *testing.T) {
	zero := []float64{0, 0, 0}
	x := []float64{1, 2, 3}
	if d := Distance(zero, zero); d != (Distances{}) {
		t.Errorf("zero vs zero: %v, want all 0", d)
	}
	for _, d := range []Distances{Distance(zero, x), Distance(x, zero)} {
		if math.IsNaN(d.Cos) || d.Cos != 1 {
			t.Errorf("zero vs non-zero: cos = %g, want 1", d.Cos)
		}
	}
	// Identical vectors are at exactly 0 in every metric (delta = 0 must accept them).
	y := []float64{0.1, 1e-300, -7.3e12, 3}
	if d := Distance(y, y); d != (Distances{}) {
		t.Errorf("identical: %v, want all 0", d)
	}
	// Huge values do not overflow l2 or cos.
	h := []float64{1e300, 1e300}
	if d := Distance(h, []float64{-1e300, 1e300}); math.IsInf(d.L2, 0) || math.Abs(d.L2-2e300) > 1e286 || math.Abs(d.Cos-1) > 1e-12 {
		t.Errorf("huge: %v", d)
	}
	if d := Distance(x, zero[:2]); !math.IsInf(d.L2, 1) || !math.IsInf(d.Cos, 1) {
		t.Errorf("length mismatch: %v, want +Inf", d)
	}
}

func TestNormalize(t *testing.T) {
	d := Distances{L1: 2, L2: 1, Linf: 0, Cos: 0.5}
	n := d.Normalize(Distances{L1: 4, L2: 0, Linf: 0, Cos: 1})
	if n.L1 != 0.5 || !math.IsInf(n.L2, 1) || n.Linf != 0 || n.Cos != 0.5 {
		t.Errorf("normalize: %v", n)
	}
}

func TestDistancesJSONKeepsNonFinite(t *testing.T) {
	d := Distances{L1: math.Inf(1), L2: math.NaN(), Linf: -math.Inf(1), Cos: 0.25}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Distances
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(back.L1, 1) || !math.IsNaN(back.L2) || !math.IsInf(back.Linf, -1) || back.Cos != 0.25 {
		t.Errorf("%s -> %v", b, back)
	}
	if json.Unmarshal([]byte(`{"l1":"12"}`), &back) == nil {
		t.Error("a numeric string was accepted as a distance")
	}
}
