package verifier

import (
	"math"
	"slices"
	"strings"
	"testing"

	"pollab/stats"
)

func TestHolmAdjust(t *testing.T) {
	// Worked by hand: sorted 0.01, 0.02, 0.03, 0.5 with m = 4 -> 0.04, 0.06, 0.06 (running
	// max of 0.06), 0.5; returned in input order.
	got := HolmAdjust([]float64{0.5, 0.02, 0.01, 0.03})
	want := []float64{0.5, 0.06, 0.04, 0.06}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Fatalf("HolmAdjust: %v, want %v", got, want)
		}
	}
	if got := HolmAdjust([]float64{0.9, 0.4}); !slices.Equal(got, []float64{0.9, 0.8}) {
		t.Errorf("HolmAdjust caps and keeps monotone: %v", got)
	}
	if got := HolmAdjust([]float64{math.NaN(), 0.5}); got[0] != 0 {
		t.Errorf("NaN p-value adjusted to %v, want 0 (fails)", got[0])
	}
}

// Holm rejects W0 exactly when m·p_min < alpha; min-p when p_min < alpha.
func TestInitCorrectionDecides(t *testing.T) {
	ev := handEvidence([][]float64{{1, 2}}, []float64{0, 0})
	ev.Init = InitFinding{Checked: true, Tensors: 4, MinP: 0.004, Tensor: "fc2.bias", D: 0.5,
		Tested: []TensorKS{{"fc1.weight", 100, 0.1, 0.3}, {"fc1.bias", 10, 0.2, 0.9}, {"fc2.weight", 40, 0.1, 0.6}, {"fc2.bias", 10, 0.5, 0.004}}}
	minP := flat{Q: 0, Metrics: []string{"l2"}, Delta: stats.Distances{L2: 1}}
	if v := minP.Decide(ev); v.Check != CheckInit || !strings.Contains(v.Reason, "fc2.bias") {
		t.Errorf("min-p at 0.01, p 0.004: %+v", v)
	}
	holm := minP
	holm.InitCorrection = InitHolm
	if v := holm.Decide(ev); !v.Accepted {
		t.Errorf("Holm at 0.01, 4·0.004 = 0.016: %+v", v)
	}
	ev.Init.Tested[3].P, ev.Init.MinP = 0.002, 0.002
	if v := holm.Decide(ev); v.Check != CheckInit || !strings.Contains(v.Reason, "adjusted 0.008 < 0.01") {
		t.Errorf("Holm at 0.01, 4·0.002 = 0.008: %+v", v)
	}
	ev.Init.Tested = nil // evidence from before per-tensor p-values were kept
	if v := holm.Decide(ev); v.Check != CheckIncomplete {
		t.Errorf("Holm without per-tensor p-values: %+v", v)
	}
	if err := (flat{InitCorrection: "bonferroni"}).Validate(); err == nil {
		t.Errorf("unknown init correction accepted")
	}
}
