package verifier

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"pollab/internal/enum"
	"pollab/stats"
)

// ParseDelta reads thresholds such as "l1=1000,l2=10,linf=0.1,cos=0.01" on top of base:
// metrics the string does not name keep base's value. A bare number ("0.008") sets every
// metric. Values must be finite and non-negative.
func ParseDelta(s string, base stats.Distances) (stats.Distances, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return base, nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if err := checkDelta("all", v); err != nil {
			return stats.Distances{}, err
		}
		return stats.Uniform(v), nil
	}
	out := base
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		name = strings.TrimSpace(name)
		if !ok {
			return stats.Distances{}, fmt.Errorf("delta %q: %q is not metric=value", s, kv)
		}
		if seen[name] {
			return stats.Distances{}, fmt.Errorf("delta %q: %s given twice", s, name)
		}
		seen[name] = true
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return stats.Distances{}, fmt.Errorf("delta %q: %s: %w", s, name, err)
		}
		if err := checkDelta(name, v); err != nil {
			return stats.Distances{}, fmt.Errorf("delta %q: %w", s, err)
		}
		if err := out.Set(name, v); err != nil {
			return stats.Distances{}, fmt.Errorf("delta %q: %w", s, err)
		}
	}
	return out, nil
}

func checkDelta(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%s = %g: want a finite non-negative threshold", name, v)
	}
	return nil
}

// FormatDelta writes d in the form ParseDelta reads, for the named metrics.
func FormatDelta(d stats.Distances, metrics []string) string {
	if len(metrics) == 0 {
		metrics = stats.Metrics
	}
	parts := make([]string, 0, len(metrics))
	for _, m := range metrics {
		v, err := d.Get(m)
		if err != nil {
			continue
		}
		parts = append(parts, m+"="+strconv.FormatFloat(v, 'g', -1, 64))
	}
	return strings.Join(parts, ",")
}

// ParseMetrics reads a metric list such as "l1,l2,linf,cos" (or "all"), returned in the
// canonical order without duplicates.
func ParseMetrics(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return slices.Clone(stats.Metrics), nil
	}
	want := map[string]bool{}
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		if _, err := (stats.Distances{}).Get(m); err != nil {
			return nil, fmt.Errorf("metrics %q: %w", s, err)
		}
		want[m] = true
	}
	var out []string
	for _, m := range stats.Metrics {
		if want[m] {
			out = append(out, m)
		}
	}
	return out, nil
}

// ParseHparams reads a hyperparameter mode.
func ParseHparams(s string) (string, error) {
	return enum.Choice("hparams", s, HparamsTrustCheckpoint, HparamsEnforceManifest)
}
