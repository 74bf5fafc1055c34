package stats

import (
	"fmt"
	"math"
)

// ReferenceDelta holds Jia et al.'s reference implementation's absolute thresholds.
var ReferenceDelta = Distances{L1: 1000, L2: 10, Linf: 0.1, Cos: 0.01}

// ReferenceNormalizedDelta is Fang et al.'s normalised threshold: 0.008 of d_ref, the
// distance between the final weights of two honest runs that differ only in seed.
const ReferenceNormalizedDelta = 0.008

// DefaultInitAlpha is the significance level of Jia et al.'s initialization check: a tested
// tensor of W0 fails when its KS p-value is below 0.01.
const DefaultInitAlpha = 0.01

// PositiveFinite checks a list of thresholds: every element positive and finite.
func PositiveFinite(field string, xs []float64) error {
	for _, x := range xs {
		if !(x > 0) || math.IsInf(x, 0) {
			return fmt.Errorf("%s: %g must be positive and finite", field, x)
		}
	}
	return nil
}
