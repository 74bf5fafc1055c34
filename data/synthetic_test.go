package data

import (
	"strings"
	"testing"
)

func TestSyntheticDeterministicAndCanonical(t *testing.T) {
	d, err := Load("synthetic", Train)
	if err != nil {
		t.Fatal(err)
	}
	const canon = "synthetic:n=2048,test=512,dim=64,classes=10,seed=1"
	if d.Name != canon || d.Len() != 2048 || d.Dim() != 64 || d.Classes != 10 || d.Enc != U8 {
		t.Fatalf("defaults: name %q len %d dim %d classes %d", d.Name, d.Len(), d.Dim(), d.Classes)
	}
	test, err := Load("synthetic", Test)
	if err != nil || test.Len() != 512 {
		t.Fatalf("test split: %v", err)
	}
	// The canonical name regenerates the same bytes (bypassing the cache).
	cfg, err := parseSynthetic(canon)
	if err != nil {
		t.Fatal(err)
	}
	again, err := cfg.generate(Train)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != d.Fingerprint() {
		t.Error("regenerating from the canonical name gives different data")
	}
	// Key order and partial keys do not matter; the canonical name does.
	alt, err := Load("synthetic:seed=1,classes=10,dim=64", Train)
	if err != nil || alt.Name != canon || alt.Fingerprint() != d.Fingerprint() {
		t.Errorf("reordered name: %v, name %q", err, alt.Name)
	}
	other, err := Load("synthetic:seed=2", Train)
	if err != nil || other.Fingerprint() == d.Fingerprint() {
		t.Errorf("seed 2: %v or same data", err)
	}
	if test.Fingerprint() == d.Fingerprint() || test.Contains(d.PointHash(0)) {
		t.Error("test split repeats the training data")
	}
}

// TestSyntheticLearnable: a nearest-centroid classifier fitted on the training split is far
// above chance on the test split, so an MLP has real signal to learn.
func TestSyntheticLearnable(t *testing.T) {
	const name = "synthetic:n=2000,test=500,dim=32,classes=10,seed=3"
	train, err := Load(name, Train)
	if err != nil {
		t.Fatal(err)
	}
	test, err := Load(name, Test)
	if err != nil {
		t.Fatal(err)
	}
	dim, k := train.Dim(), train.Classes
	cent := make([]float64, k*dim)
	count := make([]int, k)
	x := make([]float64, dim)
	for i := range train.Len() {
		train.Features(i, x)
		y := train.Label(i)
		count[y]++
		for j, v := range x {
			cent[y*dim+j] += v
		}
	}
	for c := range k {
		if count[c] < train.Len()/k/2 {
			t.Errorf("class %d has only %d of %d points", c, count[c], train.Len())
		}
		for j := range dim {
			cent[c*dim+j] /= float64(count[c])
		}
	}
	correct := 0
	for i := range test.Len() {
		test.Features(i, x)
		best, bestD := -1, 0.0
		for c := range k {
			var d float64
			for j, v := range x {
				d += (v - cent[c*dim+j]) * (v - cent[c*dim+j])
			}
			if best < 0 || d < bestD {
				best, bestD = c, d
			}
		}
		if best == test.Label(i) {
			correct++
		}
	}
	acc := float64(correct) / float64(test.Len())
	t.Logf("nearest-centroid test accuracy %.3f (chance 0.1)", acc)
	if acc < 0.6 {
		t.Errorf("nearest-centroid accuracy %.3f, want well above chance", acc)
	}
}

func TestSyntheticBadNames(t *testing.T) {
	for _, name := range []string{
		"synthetic:n=0", "synthetic:dim=-1", "synthetic:classes=1", "synthetic:classes=300",
		"synthetic:n=2,n=3", "synthetic:foo=1", "synthetic:n", "synthetic:seed=-1",
		"synthetic:n=16777216,dim=65536", "synthetic:n=99999999999999999999", "synthetic:",
		"mnist:x=1", "imagenet",
	} {
		if _, err := Load(name, Train); err == nil {
			t.Errorf("%q accepted", name)
		} else if !strings.Contains(err.Error(), name) && !strings.Contains(err.Error(), strings.Split(name, ":")[0]) {
			t.Errorf("%q: error %v does not name it", name, err)
		}
	}
	if _, err := Load("synthetic", Split(5)); err == nil {
		t.Error("unknown split accepted")
	}
}

// TestSyntheticSizeCap: a declared synthetic dataset is bounded before anything is generated
// (a hostile manifest names it): both splits together at most 64 MiB, at most 2^20 points.
func TestSyntheticSizeCap(t *testing.T) {
	for name, ok := range map[string]bool{
		"synthetic:n=1048064,test=512,dim=64":     true, // exactly 2^26 bytes
		"synthetic:n=1048065,test=512,dim=64":     false,
		"synthetic:n=16777216,test=512,dim=64":    false, // the 1 GB manifest of docs/BAD_INPUT.md
		"synthetic:n=1048577,test=1,dim=1":        false,
		"synthetic:n=1,test=1048576,dim=1":        true,
		"synthetic:n=1,test=1,dim=65536":          true,
		"synthetic:n=1024,test=1024,dim=65536":    false,
		"synthetic:n=2048,test=512,dim=64,seed=1": true,
	} {
		_, err := parseSynthetic(name)
		if ok && err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "want 1..1048576") && !strings.Contains(err.Error(), "more than the 67108864 allowed")) {
			t.Errorf("%s: error %v, want the size cap", name, err)
		}
	}
}

func BenchmarkSyntheticDefault(b *testing.B) {
	cfg, _ := parseSynthetic("synthetic")
	for b.Loop() {
		if _, err := cfg.generate(Train); err != nil {
			b.Fatal(err)
		}
	}
}
