package models

import (
	"math"
	"math/rand/v2"

	"pollab/internal/detmath"
)

// LawKind names a family of initialization distributions.
type LawKind string

const (
	Uniform  LawKind = "uniform"  // U[Low, High]
	Normal   LawKind = "normal"   // N(0, Std²)
	Constant LawKind = "constant" // always Value
)

// Law is the distribution a tensor is drawn from at initialization, kept as data so that a
// verifier can test a claimed initial checkpoint against it.
type Law struct {
	Kind      LawKind
	Low, High float64 // uniform
	Std       float64 // normal (mean 0)
	Value     float64 // constant
}

// CDF is the law's cumulative distribution function P(X <= x).
func (l Law) CDF(x float64) float64 {
	switch l.Kind {
	case Uniform:
		switch {
		case x <= l.Low:
			return 0
		case x >= l.High:
			return 1
		}
		return (x - l.Low) / (l.High - l.Low)
	case Normal:
		if l.Std <= 0 {
			return step(x, 0)
		}
		return 0.5 * math.Erfc(-x/(l.Std*math.Sqrt2))
	case Constant:
		return step(x, l.Value)
	}
	return math.NaN()
}

func step(x, at float64) float64 {
	if x < at {
		return 0
	}
	return 1
}

// Sample draws one value from the law: uniform as Low + (High-Low)·r.Float64(), normal as
// Std·detmath.Normal(r) (Marsaglia's polar method: the same bits on every architecture, unlike
// r.NormFloat64), constant without drawing.
func (l Law) Sample(r *rand.Rand) float64 {
	switch l.Kind {
	case Uniform:
		return l.Low + float64((l.High-l.Low)*r.Float64())
	case Normal:
		return l.Std * detmath.Normal(r)
	}
	return l.Value
}
