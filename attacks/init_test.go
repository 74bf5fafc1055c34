package attacks

import (
	"math"
	"sort"
	"testing"

	"pollab/data"
	"pollab/models"
	"pollab/stats"
)

func l2(a, b []float64) float64 { return stats.Distance(a, b).L2 }

// A trained-looking W_T: the model's own init, shifted and stretched, so it is not a draw
// from the law (rank matching must still produce a KS-valid W'0).
func fakeFinal(t *testing.T, m models.Model) []float64 {
	t.Helper()
	w := models.Init(m, 7)
	for i := range w {
		w[i] = 1.7*w[i] + 0.01*math.Sin(float64(i))
	}
	return w
}

func TestForgeInitPassesKSAndIsRankMatched(t *testing.T) {
	m, err := models.Parse("mlp:16-12-4:relu")
	if err != nil {
		t.Fatal(err)
	}
	wT := fakeFinal(t, m)
	w0, tries, err := ForgeInit(m, wT, 3, stats.DefaultInitAlpha)
	if err != nil {
		t.Fatal(err)
	}
	if tries < len(m.Tensors()) {
		t.Fatalf("tries %d < %d tested tensors", tries, len(m.Tensors()))
	}
	off := models.Offsets(m)
	for i, ts := range m.Tensors() {
		seg0, segT := w0[off[i]:off[i+1]], wT[off[i]:off[i+1]]
		if _, p := stats.KSTest(seg0, ts.Law.CDF); p < stats.DefaultInitAlpha {
			t.Errorf("tensor %s: KS p = %g < %g", ts.Name, p, stats.DefaultInitAlpha)
		}
		// Rank matching: sorting positions by wT sorts w0 too.
		order := make([]int, len(segT))
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(a, b int) bool { return segT[order[a]] < segT[order[b]] })
		for j := 1; j < len(order); j++ {
			if seg0[order[j]] < seg0[order[j-1]] {
				t.Fatalf("tensor %s: w0 not in wT's rank order at rank %d", ts.Name, j)
			}
		}
	}
	// Same seed, same W'0.
	again, _, _ := ForgeInit(m, wT, 3, stats.DefaultInitAlpha)
	if l2(w0, again) != 0 {
		t.Fatal("ForgeInit is not deterministic in its seed")
	}
}

func TestRankMatchBeatsAnyPermutation(t *testing.T) {
	r := data.NewRNG(5)
	n := 200
	target := make([]float64, n)
	sample := make([]float64, n)
	for i := range target {
		target[i] = r.NormFloat64()
		sample[i] = r.Float64()*2 - 1
	}
	matched := make([]float64, n)
	RankMatch(append([]float64(nil), sample...), target, matched)
	best := l2(matched, target)
	for trial := 0; trial < 20; trial++ {
		perm := r.Perm(n)
		shuffled := make([]float64, n)
		for i, p := range perm {
			shuffled[i] = sample[p]
		}
		if d := l2(shuffled, target); d < best {
			t.Fatalf("a random arrangement (%g) is closer than the rank-matched one (%g)", d, best)
		}
	}
}

func TestLineEndpointsExact(t *testing.T) {
	w0 := []float64{0.1, -0.3, 0.7}
	wT := []float64{0.3, 0.2, -1.1}
	dst := make([]float64, 3)
	LinePoint(w0, wT, 3, 3, dst)
	for i := range dst {
		if dst[i] != wT[i] {
			t.Fatal("LinePoint(t, t) is not W_T")
		}
	}
	line := NewLine(w0, wT)
	mid := make([]float64, 3)
	line.At(1, 2, mid)
	LinePoint(w0, wT, 1, 2, dst)
	for i := range dst {
		if math.Abs(dst[i]-(w0[i]+wT[i])/2) > 1e-15 || math.Abs(mid[i]-dst[i]) > 1e-15 {
			t.Fatalf("midpoint %v / %v", dst, mid)
		}
	}
}
