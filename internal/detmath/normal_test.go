package detmath_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"pollab/internal/detmath"
	"pollab/internal/pynumpy"
	"pollab/stats"
)

// goldenValue is a float64 as the golden files write it: its IEEE 754 bits in hex.
type goldenValue struct {
	Bits  string `json:"bits"`
	Value string `json:"value"` // repr, for reading only
}

func (g goldenValue) float(t *testing.T) float64 {
	t.Helper()
	u, err := strconv.ParseUint(g.Bits, 16, 64)
	if err != nil {
		t.Fatalf("golden bits %q: %v", g.Bits, err)
	}
	return math.Float64frombits(u)
}

func bitsOf(t *testing.T, s string) float64 { return goldenValue{Bits: s}.float(t) }

// TestNormalGolden: Polar on explicit uniforms (edge cases included: s = 0, s = 1, the largest
// Float64, a 9-sigma tail value) and Normal's first draws from three PCG seeds are the bits an
// independent Python implementation computed (scripts/normal_golden.py, standard library only:
// Go's PCG and Float64, msun's log and the polar method, every operation rounded).
func TestNormalGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "normal_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Polar []struct {
			A, B string
			Z    *goldenValue
		}
		Normal []struct {
			Seed1, Seed2 string
			Draws        []goldenValue
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Polar) == 0 || len(g.Normal) == 0 {
		t.Fatal("empty golden")
	}
	rejected := 0
	for i, c := range g.Polar {
		a, bb := bitsOf(t, c.A), bitsOf(t, c.B)
		z, ok := detmath.Polar(a, bb)
		switch {
		case c.Z == nil && ok:
			t.Errorf("polar %d (%v, %v): accepted with %v, golden rejects", i, a, bb, z)
		case c.Z == nil:
			rejected++
		case !ok:
			t.Errorf("polar %d (%v, %v): rejected, golden %s", i, a, bb, c.Z.Value)
		case math.Float64bits(z) != math.Float64bits(c.Z.float(t)):
			t.Errorf("polar %d (%v, %v) = %v (%016x), golden %s (%s)", i, a, bb, z, math.Float64bits(z), c.Z.Value, c.Z.Bits)
		}
	}
	if rejected == 0 || rejected == len(g.Polar) {
		t.Errorf("golden has %d rejected trials of %d: want both kinds", rejected, len(g.Polar))
	}
	for _, s := range g.Normal {
		s1, err1 := strconv.ParseUint(s.Seed1, 10, 64)
		s2, err2 := strconv.ParseUint(s.Seed2, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("seed %q %q", s.Seed1, s.Seed2)
		}
		r := rand.New(rand.NewPCG(s1, s2))
		for i, want := range s.Draws {
			if z := detmath.Normal(r); math.Float64bits(z) != math.Float64bits(want.float(t)) {
				t.Errorf("PCG(%d, %d) draw %d = %v, golden %s", s1, s2, i, z, want.Value)
			}
		}
	}
}

// TestNormalScriptReproducesTestdata: the committed goldens are what scripts/normal_golden.py
// writes (skips without Debian's /usr/bin/python3; the script needs only its standard library).
func TestNormalScriptReproducesTestdata(t *testing.T) {
	if _, err := exec.Command(pynumpy.Python, "-c", "import hashlib, json, struct").CombinedOutput(); err != nil {
		t.Skipf("needs %s: %v", pynumpy.Python, err)
	}
	root := filepath.Join("..", "..")
	for _, c := range []struct{ mode, committed string }{
		{"detmath", filepath.Join("testdata", "normal_golden.json")},
		{"init", filepath.Join(root, "models", "testdata", "init_normal_golden.json")},
	} {
		out := filepath.Join(t.TempDir(), c.mode+".json")
		if o, err := exec.Command(pynumpy.Python, filepath.Join(root, "scripts", "normal_golden.py"), c.mode, out).CombinedOutput(); err != nil {
			t.Fatalf("normal_golden.py %s: %v\n%s", c.mode, err, o)
		}
		got, err1 := os.ReadFile(out)
		want, err2 := os.ReadFile(c.committed)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what scripts/normal_golden.py %s writes", c.committed, c.mode)
		}
	}
}

// TestNormalDistribution: Normal's draws are N(0, 1). A fixed-seed sample of 10^6 (10^5 with
// -short) passes the two-sided Kolmogorov-Smirnov test against Φ at alpha = 0.01, its mean
// and variance lie within 5 standard errors of 0 and 1, and its share beyond ±3 within 5
// standard errors of 2Φ(-3). The KS test has the power to see an error: the same sample
// scaled by 0.97 (a 3% wrong standard deviation) is rejected at the same alpha.
func TestNormalDistribution(t *testing.T) {
	const alpha = 0.01
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	r := rand.New(rand.NewPCG(20261202, 11))
	x := make([]float64, n)
	var sum, sumSq float64
	tail := 0
	for i := range x {
		x[i] = detmath.Normal(r)
		sum += x[i]
		if math.Abs(x[i]) > 3 {
			tail++
		}
	}
	mean := sum / float64(n)
	for _, v := range x {
		sumSq += (v - mean) * (v - mean)
	}
	variance := sumSq / float64(n-1)
	phi := func(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
	d, p := stats.KSTest(x, phi)
	pTail := 2 * phi(-3)
	share := float64(tail) / float64(n)
	t.Logf("n %d: mean %.5f, variance %.5f, |z|>3 share %.5f (expected %.5f), KS d %.5f p %.3f", n, mean, variance, share, pTail, d, p)
	if p < alpha {
		t.Errorf("KS test rejects N(0,1): d %g, p %g < %g", d, p, alpha)
	}
	if se := 1 / math.Sqrt(float64(n)); math.Abs(mean) > 5*se {
		t.Errorf("mean %g, more than 5 standard errors (%g) from 0", mean, se)
	}
	if se := math.Sqrt(2 / float64(n-1)); math.Abs(variance-1) > 5*se {
		t.Errorf("variance %g, more than 5 standard errors (%g) from 1", variance, se)
	}
	if se := math.Sqrt(pTail * (1 - pTail) / float64(n)); math.Abs(share-pTail) > 5*se {
		t.Errorf("share beyond ±3 %g, more than 5 standard errors (%g) from %g", share, se, pTail)
	}
	for i := range x {
		x[i] *= 0.97
	}
	if d, p := stats.KSTest(x, phi); p >= alpha {
		t.Errorf("KS test does not reject the sample scaled by 0.97: d %g, p %g", d, p)
	}
}
