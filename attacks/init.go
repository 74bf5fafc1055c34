package attacks

import (
	"fmt"
	"math"
	"sort"

	"pollab/data"
	"pollab/models"
	"pollab/stats"
)

// maxInitTries bounds the redraws of one tensor. At alpha = 0.01 a draw from the law itself
// passes with probability 0.99, so reaching the bound means the law or alpha is unusable.
const maxInitTries = 1000

// ForgeInit forges an initial checkpoint W'0 that passes the initialization check yet lies
// close to wT (Zhang et al.; reused by Fang et al.). For each KS-tested tensor it draws a
// sample e from the tensor's declared law, redrawing until stats.KSTest gives p >= alpha,
// then rank-matches it to wT: the i-th smallest value of e is placed where wT has its i-th
// smallest value. A KS test ignores order, so the tensor still passes, while the sorted
// pairing minimises |W'0 − wT| over all orderings of e (rearrangement inequality). Untested
// tensors (BatchNorm weights and biases, kaiming-init biases) are copied from wT, as the
// reference implementations do; W_T's buffers go with them (Target.StartLine).
//
// Tensor i draws from data.NewRNG(data.SubSeed(seed, "forge-init/"+name, try)), so the result
// depends only on seed. It returns W'0 and the total number of draws over all tensors.
func ForgeInit(m models.Model, wT []float64, seed uint64, alpha float64) ([]float64, int, error) {
	if len(wT) != m.NumParams() {
		return nil, 0, fmt.Errorf("forge init: %d final weights, model %s has %d parameters", len(wT), m.Spec(), m.NumParams())
	}
	if math.IsNaN(alpha) || alpha < 0 || alpha >= 1 {
		return nil, 0, fmt.Errorf("forge init: alpha %v is not in [0, 1)", alpha)
	}
	ts := m.Tensors()
	off := models.Offsets(m)
	w0 := make([]float64, len(wT))
	tries := 0
	for ti, t := range ts {
		lo, hi := off[ti], off[ti+1]
		if !t.Tested {
			copy(w0[lo:hi], wT[lo:hi])
			continue
		}
		e := make([]float64, hi-lo)
		passed := false
		for try := 0; try < maxInitTries; try++ {
			tries++
			r := data.NewRNG(data.SubSeed(seed, "forge-init/"+t.Name, try))
			for j := range e {
				e[j] = t.Law.Sample(r)
			}
			if _, p := stats.KSTest(e, t.Law.CDF); p >= alpha {
				passed = true
				break
			}
		}
		if !passed {
			return nil, tries, fmt.Errorf("forge init: tensor %s: no draw from its %s law passed the KS test at alpha %g in %d tries", t.Name, t.Law.Kind, alpha, maxInitTries)
		}
		RankMatch(e, wT[lo:hi], w0[lo:hi])
	}
	return w0, tries, nil
}

// RankMatch writes into dst the values of sample arranged in the order of target: the i-th
// smallest sample value goes to the position of target's i-th smallest value. sample is
// sorted in place; all three slices have the same length.
func RankMatch(sample, target, dst []float64) {
	sort.Float64s(sample)
	order := make([]int, len(target))
	for i := range order {
		order[i] = i
	}
	// Stable, so ties in target keep their positions' order and the result is deterministic.
	sort.SliceStable(order, func(a, b int) bool { return target[order[a]] < target[order[b]] })
	for rank, pos := range order {
		dst[pos] = sample[rank]
	}
}

// InitFLOPs estimates the arithmetic of a ForgeInit that made tries draws in total: each
// draw samples its tensor and sorts it for the KS test (n·log2 n comparisons), and the final
// rank matching sorts both sides once more. An estimate, recorded as non-gradient work.
func InitFLOPs(m models.Model, tries int) float64 {
	var perDraw, match float64
	for _, t := range m.Tensors() {
		if !t.Tested {
			continue
		}
		n := float64(t.Size())
		perDraw = math.Max(perDraw, n+float64(n*math.Log2(n+1)))
		match += float64(2 * n * math.Log2(n+1))
	}
	return float64(float64(tries)*perDraw) + match
}
