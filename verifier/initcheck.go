package verifier

import (
	"fmt"
	"math"
	"slices"

	"pollab/internal/enum"
	"pollab/models"
	"pollab/stats"
)

// Init-check corrections over the tested tensors of W0 (InitCheck.Correction).
const (
	// InitMinP is the reference rule (the default): reject W0 when the smallest per-tensor
	// KS p-value is below alpha. With m tensors and exactly uniform p-values an honest W0 is
	// rejected with probability 1 - (1 - alpha)^m (3.9% for m = 4, 9.6% for m = 10 at 0.01).
	InitMinP = "min-p"
	// InitHolm is Holm's step-down correction over the m tensors: the family-wise error of
	// rejecting an honest W0 is at most alpha. W0 is rejected when some Holm-adjusted p-value
	// is below alpha; the smallest adjusted p-value is min(1, m·p_min), so the verdict on W0
	// is the same as Bonferroni's (Holm's later steps decide only which other tensors fail).
	InitHolm = "holm"
)

// InitCorrections lists the accepted corrections, the default first.
var InitCorrections = []string{InitMinP, InitHolm}

// ParseInitCorrection reads a correction name; "" is InitMinP.
func ParseInitCorrection(s string) (string, error) {
	return enum.Choice("init correction", s, InitCorrections...)
}

// TensorKS is the KS test of one tested tensor of W0.
type TensorKS struct {
	Name string  `json:"name"`
	N    int     `json:"n"`
	D    float64 `json:"d"`
	P    float64 `json:"p"`
}

// InitKS tests every tensor the model marks as tested against its declared law (stats.KSTest):
// the per-tensor results in the model's order, and the smallest p-value.
func InitKS(model models.Model, w0 []float64) InitFinding {
	f := InitFinding{Checked: true, MinP: 1}
	off := models.Offsets(model)
	for i, t := range model.Tensors() {
		if !t.Tested {
			continue
		}
		x := w0[off[i]:off[i+1]]
		d, p := stats.KSTest(x, t.Law.CDF)
		f.Tested = append(f.Tested, TensorKS{Name: t.Name, N: len(x), D: d, P: p})
		f.Tensors++
		if f.Tensors == 1 || p < f.MinP {
			f.MinP, f.Tensor, f.D = p, t.Name, d
		}
	}
	return f
}

// HolmAdjust returns Holm's adjusted p-values, in the order of p: with p sorted ascending
// as p_(1) <= ... <= p_(m), adj_(i) = min(1, max_{j <= i} (m - j + 1)·p_(j)). A NaN is
// treated as 0 (it fails).
func HolmAdjust(p []float64) []float64 {
	m := len(p)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	val := func(i int) float64 {
		if math.IsNaN(p[i]) {
			return 0
		}
		return p[i]
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch va, vb := val(a), val(b); {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return 0
	})
	out := make([]float64, m)
	running := 0.0
	for rank, i := range order {
		running = math.Max(running, math.Min(1, float64(m-rank)*val(i)))
		out[i] = running
	}
	return out
}

// initFailure applies the init check at alpha under correction to f: "" when W0 passes,
// otherwise the one-line reason. A finding without per-tensor results (evidence from
// before they were recorded) cannot be Holm-corrected: ok is false.
func initFailure(f InitFinding, alpha float64, correction string) (reason string, ok bool) {
	if correction != InitHolm {
		if !(f.MinP >= alpha) {
			return fmt.Sprintf("W0 tensor %s fails the KS test: D = %.4g, p = %.3g < %g", f.Tensor, f.D, f.MinP, alpha), true
		}
		return "", true
	}
	if len(f.Tested) != f.Tensors {
		return "", false
	}
	ps := make([]float64, len(f.Tested))
	for i, t := range f.Tested {
		ps[i] = t.P
	}
	for i, adj := range HolmAdjust(ps) {
		if !(adj >= alpha) {
			t := f.Tested[i]
			return fmt.Sprintf("W0 tensor %s fails the KS test under Holm's correction over %d tensors: D = %.4g, p = %.3g, adjusted %.3g < %g",
				t.Name, len(ps), t.D, t.P, adj, alpha), true
		}
	}
	return "", true
}
