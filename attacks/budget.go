package attacks

import (
	"fmt"
	"math"

	"pollab/autodiff"
	"pollab/stats"
)

// Budget is the threshold a spoofer targets: gaps between its checkpoints, plus whatever
// re-execution adds, must stay within Delta (absolute) in Metric.
type Budget struct {
	Metric string  // l1, l2 or linf
	Delta  float64 // absolute
}

// NewBudget resolves a targeted threshold: delta in metric, absolute, or, when dref is not
// nil, as a fraction of the honest reference distance dref (Fang et al.'s normalised delta).
func NewBudget(metric string, delta float64, dref *stats.Distances) (Budget, error) {
	if metric == "" {
		metric = stats.MetricL2
	}
	switch metric {
	case stats.MetricL1, stats.MetricL2, stats.MetricLinf:
	case stats.MetricCos:
		return Budget{}, fmt.Errorf("budget: metric cos is not supported (gaps on a line are not additive in cosine distance); use l1, l2 or linf")
	default:
		return Budget{}, fmt.Errorf("budget: unknown metric %q (want l1, l2 or linf)", metric)
	}
	if !(delta > 0) || math.IsInf(delta, 0) {
		return Budget{}, fmt.Errorf("budget: delta %v is not a positive number", delta)
	}
	if dref != nil {
		ref, _ := dref.Get(metric)
		if !(ref > 0) || math.IsInf(ref, 0) {
			return Budget{}, fmt.Errorf("budget: d_ref %s = %v is not a positive number", metric, ref)
		}
		delta *= ref
	}
	return Budget{Metric: metric, Delta: delta}, nil
}

// Of is the budget metric's value in d.
func (b Budget) Of(d stats.Distances) float64 {
	v, _ := d.Get(b.Metric)
	return v
}

// Norm is the budget metric's norm of w (the distance of w from the origin).
func (b Budget) Norm(w []float64) float64 {
	var out float64
	switch b.Metric {
	case stats.MetricL1:
		for _, v := range w {
			out += math.Abs(v)
		}
	case stats.MetricLinf:
		for _, v := range w {
			out = math.Max(out, math.Abs(v))
		}
	default:
		var ss float64
		for _, v := range w {
			ss += float64(v * v)
		}
		out = math.Sqrt(ss)
	}
	return out
}

// L2Equivalent converts an allowance in the budget's metric into an l2 allowance that
// implies it for vectors of n elements: |x|_inf <= |x|_2 and |x|_1 <= √n·|x|_2.
func (b Budget) L2Equivalent(v float64, n int) float64 {
	if b.Metric == stats.MetricL1 {
		return v / math.Sqrt(float64(n))
	}
	return v
}

// RoundingSlack bounds how much storing two points a and b in dtype dt can change their
// distance in the budget's metric: each stored value is within u·|x| of the exact one (u =
// 2^-24 for f32, 2^-53 for f64), so at most 2u·maxNorm where maxNorm bounds both norms.
func (b Budget) RoundingSlack(dt autodiff.DType, maxNorm float64) float64 {
	u := math.Ldexp(1, -53)
	if dt == autodiff.Float32 {
		u = math.Ldexp(1, -24)
	}
	return 2 * u * maxNorm
}
