package verifier

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"pollab/stats"
)

// The lab's own checks, registered in the order Decide applies them to a policy built from
// configurations (Kind.Order): init, data, membership, hparams, then the replay of the
// selected intervals.
func init() {
	Register(Kind{Name: CheckInit, Order: 10, Usage: "KS test of W0 against the model's declared init laws",
		NewConfig: func() Config { return &InitConfig{Alpha: stats.DefaultInitAlpha, Correction: InitMinP} }})
	Register(Kind{Name: CheckData, Order: 20, Usage: "every batch hash recomputed from the declared dataset and the payload",
		NewConfig: func() Config { return &DataConfig{} }})
	Register(Kind{Name: CheckMembership, Order: 30, Usage: "payload points must be points of the declared dataset",
		NewConfig: func() Config {
			return &Switch{Check: MembershipCheck{}, Usage: "reject payload points that are not in the declared dataset"}
		}})
	Register(Kind{Name: CheckHparams, Order: 40, Usage: "checkpoints' lr and momentum state must follow the manifest's schedule (enforce-manifest)",
		NewConfig: func() Config { return &HparamsConfig{Mode: HparamsTrustCheckpoint} }})
	Register(Kind{Name: CheckReplay, Order: 100, Usage: "re-executed top-Q and audited intervals within delta of the proof's checkpoints",
		NewConfig: func() Config { return &ReplayConfig{} },
		Columns: []Column{{Name: "metric", Off: MetricAll, Parse: parseMetricLabel},
			{Name: "delta", Off: "NaN", Parse: ParseFloatLabel}, {Name: "normalized", Off: "0", Parse: ParseBoolLabel},
			{Name: "delta_norm", Off: "NaN", Parse: ParseFloatLabel}, {Name: "d_ref", Off: "NaN", Parse: ParseFloatLabel}}})
}

// parseMetricLabel accepts the replay check's metric labels: a metric's name or MetricAll.
func parseMetricLabel(s string) error {
	if s == MetricAll || slices.Contains(stats.Metrics, s) {
		return nil
	}
	return fmt.Errorf("unknown metric %q (want %s or %s)", s, strings.Join(stats.Metrics, ", "), MetricAll)
}

// CheckReplay is the registered name of the replay check (its rejections name CheckTopQ or
// CheckAudit).
const CheckReplay = "replay"

// MetricAll is the replay check's metric label when it thresholds every metric at once
// (the union of their top-Q selections, each metric at its own delta).
const MetricAll = "all"

// InitCheck rejects a W0 whose tested tensors fail the KS test at Alpha under Correction
// (InitMinP, the default "", or InitHolm).
type InitCheck struct {
	Alpha      float64 `json:"alpha"`
	Correction string  `json:"correction,omitempty"`
}

func (InitCheck) Name() string { return CheckInit }

func (c InitCheck) Validate() error {
	if !(c.Alpha > 0 && c.Alpha < 1) {
		return fmt.Errorf("init alpha %g: want 0 < alpha < 1 (leave the check out to skip it)", c.Alpha)
	}
	_, err := ParseInitCorrection(c.Correction)
	return err
}

// Collect tests W0 (InitKS).
func (InitCheck) Collect(src *Source, ev *Evidence) error {
	ev.Init = InitKS(src.Model, src.W0)
	return nil
}

func (c InitCheck) Judge(j *Judging) *Rejection {
	if !j.Ev.Init.Checked {
		return Incomplete("the initialization check was not run")
	}
	reason, ok := initFailure(j.Ev.Init, c.Alpha, c.Correction)
	if !ok {
		return Incomplete("the initialization check recorded no per-tensor p-values for the %s correction", InitHolm)
	}
	if reason != "" {
		return Reject(CheckInit, -1, 0, "%s", reason)
	}
	return nil
}

func (c InitCheck) String() string { return fmt.Sprintf("init(alpha=%g)", c.Alpha) }

// DataCheck rejects a proof whose recorded batch hashes differ from the ones recomputed
// from the indexed points (declared dataset and payload), or whose dataset fingerprint
// differs from the loaded dataset's.
type DataCheck struct{}

func (DataCheck) Name() string { return CheckData }

// Collect recomputes every batch hash (checkData).
func (DataCheck) Collect(src *Source, ev *Evidence) error {
	checkData(ev, src.Proof, src.Train)
	return nil
}

func (DataCheck) Judge(j *Judging) *Rejection {
	ev := j.Ev
	if !ev.Data.Checked {
		return Incomplete("the data check was not run")
	}
	if !ev.Data.OK() {
		return rejectAtStep(ev, CheckData, ev.Data.FirstBadStep, "%s", ev.Data.Reason)
	}
	return nil
}

// MembershipCheck rejects payload points that are not points of the declared dataset.
type MembershipCheck struct{}

func (MembershipCheck) Name() string { return CheckMembership }

// Collect hashes the referenced payload points (checkMembership).
func (MembershipCheck) Collect(src *Source, ev *Evidence) error {
	checkMembership(ev, src.Proof, src.Train)
	return nil
}

func (MembershipCheck) Judge(j *Judging) *Rejection {
	ev := j.Ev
	if !ev.Membership.Checked {
		return Incomplete("the membership check was not run")
	}
	if ev.Membership.Foreign > 0 {
		step := ev.Membership.FirstForeignStep
		return rejectAtStep(ev, CheckMembership, step, "%d of %d payload points are not in the declared dataset %s (first used at step %d)",
			ev.Membership.Foreign, ev.Membership.PayloadPoints, ev.Dataset, step)
	}
	return nil
}

// HparamsCheck rejects checkpoints whose stored lr or momentum state disagrees with the
// manifest's schedule. A policy holding it re-executes under HparamsEnforceManifest (the
// lr of every step recomputed from the manifest), one without it under
// HparamsTrustCheckpoint (Policy.HparamsMode).
type HparamsCheck struct{}

func (HparamsCheck) Name() string { return CheckHparams }

// Collect compares every checkpoint's stored state with the manifest (hparamsMismatch).
func (HparamsCheck) Collect(src *Source, ev *Evidence) error {
	h := src.Manifest.Hyper()
	ev.Hparams = HparamsFinding{Checked: true, FirstMismatch: -1}
	for i, c := range src.States {
		if reason := hparamsMismatch(c, h); reason != "" {
			ev.Hparams = HparamsFinding{Checked: true, FirstMismatch: i, Step: c.Step, Reason: reason,
				StoredLR: c.LR, ManifestLR: h.LRAt(c.Step)}
			break
		}
	}
	return nil
}

func (HparamsCheck) Judge(j *Judging) *Rejection {
	ev := j.Ev
	if !ev.Hparams.Checked {
		return Incomplete("the hyperparameter check was not run")
	}
	if h := ev.Hparams; h.FirstMismatch >= 0 {
		return Reject(CheckHparams, min(h.FirstMismatch, len(ev.Intervals)-1), h.Step,
			"checkpoint %d (step %d) disagrees with the manifest: %s", h.FirstMismatch, h.Step, h.Reason)
	}
	return nil
}

func (HparamsCheck) String() string { return "hparams=" + HparamsEnforceManifest }

// ReplayCheck judges the re-executions of the policy's selection: an interval fails when
// its distance to the proof's end checkpoint is strictly greater than Delta in one of
// Metrics (empty: all four; raw, or as fractions of d_ref when Normalized), or when its
// re-execution could not run. Rejections name CheckTopQ or CheckAudit.
type ReplayCheck struct {
	Delta      stats.Distances `json:"delta"`
	Metrics    []string        `json:"metrics"`
	Normalized bool            `json:"normalized"`
}

func (ReplayCheck) Name() string   { return CheckReplay }
func (ReplayCheck) JudgesReplays() {}

func (c ReplayCheck) Validate() error {
	if err := validMetrics(c.Metrics); err != nil {
		return err
	}
	for _, m := range stats.Metrics {
		v, _ := c.Delta.Get(m)
		if math.IsNaN(v) || v < 0 {
			return fmt.Errorf("delta %s = %g: want a non-negative number", m, v)
		}
	}
	return nil
}

// Collect records nothing: Gather re-executes the selected intervals of every policy that
// holds a replay check (Interval.Repro).
func (ReplayCheck) Collect(*Source, *Evidence) error { return nil }

func (c ReplayCheck) Judge(j *Judging) *Rejection {
	ev := j.Ev
	if c.Normalized && ev.DRef == nil {
		return Incomplete("normalised thresholds need a d_ref calibration")
	}
	needed := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(j.Top), j.Audit...))))
	for _, i := range needed {
		iv := ev.Intervals[i]
		r := iv.Repro[j.Mode]
		if r == nil {
			return Reject(CheckIncomplete, i, iv.Start, "interval %d (steps %d-%d) was not re-executed under %s", i, iv.Start, iv.End, j.Mode)
		}
		check := CheckAudit
		if _, top := slices.BinarySearch(j.Top, i); top {
			check = CheckTopQ
		}
		if r.Failure != "" { // fails whatever delta is
			return Reject(check, i, iv.Start, "interval %d (steps %d-%d): re-execution failed: %s", i, iv.Start, iv.End, r.Failure)
		}
		dist := r.Raw
		if c.Normalized {
			dist = r.Raw.Normalize(*ev.DRef)
		}
		for _, m := range metricsOrAll(c.Metrics) {
			d, _ := dist.Get(m)
			delta, _ := c.Delta.Get(m)
			if !(d <= delta) { // NaN fails too
				unit := ""
				if c.Normalized {
					unit = " of d_ref"
				}
				return Reject(check, i, iv.Start, "interval %d (steps %d-%d): re-execution is at %s distance %.6g%s > delta %.6g",
					i, iv.Start, iv.End, m, d, unit, delta)
			}
		}
	}
	return nil
}

// Labels are the replay check's columns (Kind.Columns): its one metric (or MetricAll), its
// threshold raw and in units of d_ref (converted through dref's value of the metric),
// whether it was given normalised, and that d_ref. A check of every metric has no raw delta
// nor d_ref (NaN), and, normalised, the delta of the first metric.
func (c ReplayCheck) Labels(dref *stats.Distances) []Label {
	metric, delta, deltaNorm, ref := MetricAll, math.NaN(), math.NaN(), math.NaN()
	switch {
	case len(c.Metrics) == 1:
		metric = c.Metrics[0]
		d, _ := c.Delta.Get(metric) // a validated check's metric
		if dref != nil {
			ref, _ = dref.Get(metric)
		}
		if c.Normalized {
			deltaNorm, delta = d, d*ref
		} else {
			delta, deltaNorm = d, d/ref
		}
	case c.Normalized:
		deltaNorm, _ = c.Delta.Get(stats.Metrics[0])
	}
	ff := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	normalized := "0"
	if c.Normalized {
		normalized = "1"
	}
	return []Label{{Column: "metric", Value: metric}, {Column: "delta", Value: ff(delta)},
		{Column: "normalized", Value: normalized}, {Column: "delta_norm", Value: ff(deltaNorm)}, {Column: "d_ref", Value: ff(ref)}}
}

func (c ReplayCheck) String() string {
	var ds []string
	for _, m := range metricsOrAll(c.Metrics) {
		v, _ := c.Delta.Get(m)
		ds = append(ds, fmt.Sprintf("%s=%g", m, v))
	}
	norm := ""
	if c.Normalized {
		norm = " normalized"
	}
	return fmt.Sprintf("delta{%s}%s", strings.Join(ds, ","), norm)
}

// InitConfig configures the init check: Alpha <= 0 leaves it out (flags --init-alpha,
// --init-correction).
type InitConfig struct {
	Alpha      float64 `json:"alpha"`
	Correction string  `json:"correction,omitempty"`
}

func (c *InitConfig) Flags() []Flag {
	return []Flag{
		{Name: "init-alpha", Usage: "KS threshold for W0 (0 or negative: skip the init check)", Default: strconv.FormatFloat(c.Alpha, 'g', -1, 64),
			Set: floatSetter(&c.Alpha)},
		{Name: "init-correction", Usage: "combine W0's per-tensor KS p-values: min-p (reference: smallest p < alpha) or holm (family-wise error <= alpha)",
			Default: c.Correction, Set: func(s string) (err error) { c.Correction, err = ParseInitCorrection(s); return err }},
	}
}

func (c *InitConfig) Variants() ([]Variant, error) {
	if !(c.Alpha > 0) {
		return nil, nil
	}
	corr, err := ParseInitCorrection(c.Correction)
	if err != nil {
		return nil, err
	}
	chk := InitCheck{Alpha: c.Alpha, Correction: corr}
	return One(chk), chk.Validate()
}

// DataConfig configures the data check, which every policy holds.
type DataConfig struct{}

func (*DataConfig) Flags() []Flag                { return nil }
func (*DataConfig) Variants() ([]Variant, error) { return One(DataCheck{}), nil }

// Switch configures a check that has no setting, only on or off: a switch flag named as the
// check, and spec key on (membership, exact-replay).
type Switch struct {
	On    bool   `json:"on,omitempty"`
	Check Check  `json:"-"`
	Usage string `json:"-"`
}

func (c *Switch) Flags() []Flag {
	return []Flag{{Name: c.Check.Name(), Usage: c.Usage, Bool: true,
		Set: func(s string) (err error) { c.On, err = strconv.ParseBool(s); return err }}}
}

func (c *Switch) Variants() ([]Variant, error) {
	if !c.On {
		return nil, nil
	}
	return One(c.Check), nil
}

// HparamsConfig configures the hyperparameter mode (flag --hparams): enforce-manifest adds
// the hparams check (and re-executes with the manifest's schedule).
type HparamsConfig struct {
	Mode string `json:"mode"`
}

func (c *HparamsConfig) Flags() []Flag {
	return []Flag{{Name: "hparams", Usage: "trust-checkpoint (reference) or enforce-manifest", Default: c.Mode,
		Set: func(s string) (err error) { c.Mode, err = ParseHparams(s); return err }}}
}

func (c *HparamsConfig) Variants() ([]Variant, error) {
	mode, err := ParseHparams(c.Mode)
	if err != nil || mode == HparamsTrustCheckpoint {
		return nil, err
	}
	return One(HparamsCheck{}), nil
}

// ReplayConfig configures the replay check: flags --metrics, --delta, --normalized (one
// threshold), or in a spec the lists AbsoluteDelta (per metric, raw) and NormalizedDelta
// (fractions of d_ref), each a sweep of one-metric checks, to which Variants adds the two
// all-metric reference points (Jia et al.'s thresholds, and ReferenceNormalizedDelta).
type ReplayConfig struct {
	Metrics         []string             `json:"metrics,omitempty"`
	Delta           string               `json:"delta,omitempty"`
	Normalized      bool                 `json:"normalized,omitempty"`
	AbsoluteDelta   map[string][]float64 `json:"absolute_delta,omitempty"`
	NormalizedDelta []float64            `json:"normalized_delta,omitempty"`
}

func (c *ReplayConfig) Flags() []Flag {
	return []Flag{
		{Name: "metrics", Usage: "metrics to rank and threshold", Default: strings.Join(stats.Metrics, ","),
			Set: func(s string) (err error) { c.Metrics, err = ParseMetrics(s); return err }},
		{Name: "delta", Usage: "thresholds metric=value,... or one value for all (default: reference l1=1000,l2=10,linf=0.1,cos=0.01; with --normalized 0.008)",
			Set: func(s string) error {
				// Parsed again by Variants, on the base --normalized chooses.
				c.Delta = s
				_, err := ParseDelta(s, stats.ReferenceDelta)
				return err
			}},
		{Name: "normalized", Usage: "read --delta as fractions of d_ref (needs --dref)", Bool: true,
			Set: func(s string) (err error) { c.Normalized, err = strconv.ParseBool(s); return err }},
	}
}

// Sweeping reports whether the configuration lists thresholds (a spec's grid).
func (c *ReplayConfig) Sweeping() bool { return c.AbsoluteDelta != nil || c.NormalizedDelta != nil }

func (c *ReplayConfig) Variants() ([]Variant, error) {
	metrics := slices.Clone(metricsOrAll(c.Metrics))
	if err := validMetrics(metrics); err != nil {
		return nil, err
	}
	if !c.Sweeping() {
		base := stats.ReferenceDelta
		if c.Normalized {
			base = stats.Uniform(stats.ReferenceNormalizedDelta)
		}
		delta, err := ParseDelta(c.Delta, base)
		if err != nil {
			return nil, err
		}
		chk := ReplayCheck{Delta: delta, Metrics: metrics, Normalized: c.Normalized}
		return One(chk), chk.Validate()
	}
	var out []Variant
	for _, m := range metrics {
		for _, d := range c.AbsoluteDelta[m] {
			out = append(out, Variant{Check: ReplayCheck{Delta: only(m, d), Metrics: []string{m}}})
		}
		for _, d := range c.NormalizedDelta {
			out = append(out, Variant{Check: ReplayCheck{Delta: only(m, d), Metrics: []string{m}, Normalized: true}})
		}
	}
	out = append(out,
		Variant{Check: ReplayCheck{Delta: stats.ReferenceDelta, Metrics: slices.Clone(stats.Metrics)}},
		Variant{Check: ReplayCheck{Delta: stats.Uniform(stats.ReferenceNormalizedDelta), Metrics: slices.Clone(stats.Metrics), Normalized: true}})
	for _, v := range out {
		if err := v.Check.(ReplayCheck).Validate(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// only is a Distances with only metric m set (the others are not consulted).
func only(m string, d float64) stats.Distances {
	var x stats.Distances
	_ = x.Set(m, d) // m was validated
	return x
}

func floatSetter(p *float64) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%q is not a finite number", s)
		}
		*p = v
		return nil
	}
}

// CheckExactReplay is the registered name of the exact-replay check.
const CheckExactReplay = "exact-replay"

func init() {
	Register(Kind{Name: CheckExactReplay, Order: 110,
		Usage: "exact replay: every selected interval re-executes to the proof's checkpoint bit for bit (delta 0)",
		NewConfig: func() Config {
			return &Switch{Check: ExactReplayCheck{},
				Usage: "also require every selected interval to re-execute exactly (delta 0 in every metric)"}
		}})
}

// ExactReplayCheck is the operating point that optimistic verifiable training proposes:
// delta 0 in every metric, which pollab's deterministic engine allows in the exact env (an
// honest proof re-executes bit for bit on any architecture, docs/ARCHITECTURE.md) and which
// any other env, or any forgery that moves a selected interval at all, fails. Rejections
// name the check, not top-Q or audit.
type ExactReplayCheck struct{}

func (ExactReplayCheck) Name() string                     { return CheckExactReplay }
func (ExactReplayCheck) JudgesReplays()                   {}
func (ExactReplayCheck) Collect(*Source, *Evidence) error { return nil }
func (ExactReplayCheck) String() string                   { return CheckExactReplay }

func (ExactReplayCheck) Judge(j *Judging) *Rejection {
	r := ReplayCheck{Metrics: slices.Clone(stats.Metrics)}.Judge(j)
	if r != nil && (r.Check == CheckTopQ || r.Check == CheckAudit) {
		r.Check = CheckExactReplay
	}
	return r
}
