package stats

import (
	"fmt"
	"math"
	"strings"
)

// Metric names, in the order the lab reports them (CSV columns, figures, flags).
const (
	MetricL1   = "l1"
	MetricL2   = "l2"
	MetricLinf = "linf"
	MetricCos  = "cos"
)

// Metrics lists every metric, in report order. Callers must not modify it.
var Metrics = []string{MetricL1, MetricL2, MetricLinf, MetricCos}

// Distances holds one value per metric: l1, l2 and linf norms of a difference, and the cosine
// distance 1 - <a,b>/(|a||b|).
type Distances struct {
	L1   float64 `json:"l1"`
	L2   float64 `json:"l2"`
	Linf float64 `json:"linf"`
	Cos  float64 `json:"cos"`
}

// Distance compares two flat parameter vectors in all four metrics.
//
// Cosine distance is 1 - <a,b>/(|a||b|) (the reference code divides by |a|², which is not a
// distance: it is not symmetric and is not 0 for a == b unless |a| = 1). Degenerate cases
// never produce NaN: identical vectors (including two zero vectors) are at cosine distance
// 0, and a zero vector against a non-zero one is at distance 1 (no common direction). The
// result is clamped to [0, 2] against rounding.
//
// Vectors of different lengths cannot come from the same model; Distance reports +Inf in
// every metric for them, so no threshold can accept such a pair.
func Distance(a, b []float64) Distances {
	if len(a) != len(b) {
		return Uniform(math.Inf(1))
	}
	var l1, linf float64
	diff := newL2()
	identical := true
	for i := range a {
		d := a[i] - b[i]
		if d != 0 || math.IsNaN(d) {
			identical = false
		}
		ad := math.Abs(d)
		l1 += ad
		if ad > linf || math.IsNaN(ad) {
			linf = ad
		}
		diff.add(ad)
	}
	out := Distances{L1: l1, L2: diff.norm(), Linf: linf}
	if identical {
		return out // Cos stays 0: a vector is at distance 0 from itself, zero vector included
	}
	na, nb := l2Norm(a), l2Norm(b)
	switch {
	case na == 0 && nb == 0:
		out.Cos = 0
	case na == 0 || nb == 0:
		out.Cos = 1
	default:
		// Divide before multiplying so that |a||b| cannot overflow.
		c := 1 - (dot(a, b)/na)/nb
		out.Cos = math.Min(2, math.Max(0, c))
		if math.IsNaN(c) {
			out.Cos = c // NaN inputs stay visible; a threshold test treats NaN as a failure
		}
	}
	return out
}

// l2 accumulates a Euclidean norm with scaling (as LAPACK's dnrm2) so that huge forged
// weights cannot overflow; every product is rounded before its sum (no fused multiply-add:
// the same bits on every architecture, which gonum's floats.Norm does not promise).
type l2 struct{ scale, ssq float64 }

func newL2() l2 { return l2{0, 1} }

// add adds |x| = ad.
func (n *l2) add(ad float64) {
	if ad == 0 {
		return
	}
	if n.scale < ad {
		n.ssq = 1 + float64(n.ssq*(n.scale/ad)*(n.scale/ad))
		n.scale = ad
	} else {
		n.ssq += float64((ad / n.scale) * (ad / n.scale))
	}
}

func (n *l2) norm() float64 { return n.scale * math.Sqrt(n.ssq) }

// l2Norm is |x|₂.
func l2Norm(x []float64) float64 {
	n := newL2()
	for _, v := range x {
		n.add(math.Abs(v))
	}
	return n.norm()
}

// dot is <a,b> summed in index order with every product rounded (gonum's floats.Dot runs
// assembly with another summation order on amd64 and fuses on arm64: not the same bits
// everywhere).
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += float64(a[i] * b[i])
	}
	return s
}

// DistanceFLOPs is the arithmetic Distance does on vectors of n elements, for the ledger.
func DistanceFLOPs(n int) float64 { return 12 * float64(n) }

// Get returns the value of a named metric.
func (d Distances) Get(metric string) (float64, error) {
	switch metric {
	case MetricL1:
		return d.L1, nil
	case MetricL2:
		return d.L2, nil
	case MetricLinf:
		return d.Linf, nil
	case MetricCos:
		return d.Cos, nil
	}
	return 0, fmt.Errorf("metric %q: want one of %s", metric, strings.Join(Metrics, ","))
}

// Set assigns a named metric; an unknown name is an error.
func (d *Distances) Set(metric string, v float64) error {
	switch metric {
	case MetricL1:
		d.L1 = v
	case MetricL2:
		d.L2 = v
	case MetricLinf:
		d.Linf = v
	case MetricCos:
		d.Cos = v
	default:
		return fmt.Errorf("metric %q: want one of %s", metric, strings.Join(Metrics, ","))
	}
	return nil
}

// Normalize divides each metric by the matching d_ref value. A zero reference yields 0 for
// a zero distance and +Inf otherwise (nothing is within a fraction of nothing).
func (d Distances) Normalize(ref Distances) Distances {
	div := func(x, r float64) float64 {
		if r == 0 {
			if x == 0 {
				return 0
			}
			return math.Inf(1)
		}
		return x / r
	}
	return Distances{L1: div(d.L1, ref.L1), L2: div(d.L2, ref.L2), Linf: div(d.Linf, ref.Linf), Cos: div(d.Cos, ref.Cos)}
}

// Max returns the metric-wise maximum of d and e.
func (d Distances) Max(e Distances) Distances {
	return Distances{L1: math.Max(d.L1, e.L1), L2: math.Max(d.L2, e.L2), Linf: math.Max(d.Linf, e.Linf), Cos: math.Max(d.Cos, e.Cos)}
}

// String formats the four values compactly.
func (d Distances) String() string {
	return fmt.Sprintf("l1=%.6g l2=%.6g linf=%.6g cos=%.6g", d.L1, d.L2, d.Linf, d.Cos)
}

// Uniform is v in every metric (a single threshold for all, or +Inf for a failed replay).
func Uniform(v float64) Distances { return Distances{L1: v, L2: v, Linf: v, Cos: v} }
