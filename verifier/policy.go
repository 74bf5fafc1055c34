package verifier

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"pollab/data"
	"pollab/stats"
)

// Checks, in the order Decide applies them, as named in a Verdict.
const (
	CheckInit       = "init"
	CheckData       = "data"
	CheckMembership = "membership"
	CheckHparams    = "hparams"
	CheckTopQ       = "topq"
	CheckAudit      = "audit"
	// CheckIncomplete is not a finding about the proof: the Evidence lacks something the
	// policy needs (an interval it did not re-execute, a d_ref it was not given).
	CheckIncomplete = "incomplete"
)

// Policy is a verifier's decision rule: which intervals to re-execute, and how far a
// re-execution may land from the proof's checkpoint.
type Policy struct {
	// Delta is the threshold per metric: an interval fails when its distance is strictly
	// greater (raw, or as a fraction of d_ref when Normalized).
	Delta      stats.Distances `json:"delta"`
	Metrics    []string        `json:"metrics"` // chosen metrics; empty means all four
	Normalized bool            `json:"normalized"`
	// Q is how many intervals per epoch and metric top-Q re-executes (<= 0: all of them).
	Q int `json:"q"`
	// Audit is how many more intervals per epoch are drawn uniformly from the rest.
	Audit int `json:"audit"`
	// AuditSeed fixes the audit draw; 0 lets the verifier derive it from the manifest hash
	// and its secret nonce (Evidence.AuditNonce), which the prover cannot predict.
	AuditSeed uint64 `json:"audit_seed"`
	// InitAlpha is the KS threshold for W0; 0 means stats.DefaultInitAlpha, < 0 disables the check.
	InitAlpha float64 `json:"init_alpha"`
	// InitCorrection combines the tensors' p-values: InitMinP (default, "": the reference's
	// smallest p below alpha) or InitHolm (family-wise error at most alpha).
	InitCorrection string `json:"init_correction,omitempty"`
	Membership     bool   `json:"membership"`
	Hparams        string `json:"hparams"` // HparamsTrustCheckpoint (default, "") or HparamsEnforceManifest
	// EpochRule groups intervals into epochs for Top-Q and audits: stats.EpochRuleStart (default,
	// "") or stats.EpochRuleVerifyPy (see stats.IntervalEpochs).
	EpochRule string `json:"epoch_rule,omitempty"`
}

// Verdict is a Policy's decision on one Evidence.
type Verdict struct {
	Accepted  bool   `json:"accepted"`
	Check     string `json:"check,omitempty"`  // the first failing check
	Interval  int    `json:"interval"`         // the failing interval, -1 if not about one
	Step      int    `json:"step"`             // the failing step or checkpoint step, -1 if none
	Reason    string `json:"reason,omitempty"` // one line naming what failed and why
	AuditSeed uint64 `json:"audit_seed"`       // the audit seed actually used
}

// DefaultPolicy is the reference verifier: top-1 per epoch in all four metrics at the
// reference thresholds, trusting checkpoints, KS at 0.01, no audits.
func DefaultPolicy() Policy {
	return Policy{Delta: stats.ReferenceDelta, Metrics: slices.Clone(stats.Metrics), Q: 1, InitAlpha: stats.DefaultInitAlpha, Hparams: HparamsTrustCheckpoint}
}

// Validate checks the policy's fields.
func (p Policy) Validate() error {
	for _, m := range p.metrics() {
		if _, err := (stats.Distances{}).Get(m); err != nil {
			return fmt.Errorf("policy: %w", err)
		}
	}
	for _, m := range stats.Metrics {
		v, _ := p.Delta.Get(m)
		if math.IsNaN(v) || v < 0 {
			return fmt.Errorf("policy: delta %s = %g: want a non-negative number", m, v)
		}
	}
	if p.Audit < 0 {
		return fmt.Errorf("policy: audit %d: want >= 0", p.Audit)
	}
	if math.IsNaN(p.InitAlpha) || p.InitAlpha >= 1 {
		return fmt.Errorf("policy: init alpha %g: want < 1", p.InitAlpha)
	}
	switch p.Hparams {
	case "", HparamsTrustCheckpoint, HparamsEnforceManifest:
	default:
		return fmt.Errorf("policy: hparams %q: want %s or %s", p.Hparams, HparamsTrustCheckpoint, HparamsEnforceManifest)
	}
	if _, err := ParseInitCorrection(p.InitCorrection); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if _, err := stats.ParseEpochRule(p.EpochRule); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}

func (p Policy) metrics() []string {
	if len(p.Metrics) == 0 {
		return stats.Metrics
	}
	return p.Metrics
}

// HparamsMode is the policy's hyperparameter mode with the default filled in.
func (p Policy) HparamsMode() string {
	if p.Hparams == "" {
		return HparamsTrustCheckpoint
	}
	return p.Hparams
}

func (p Policy) initAlpha() float64 {
	if p.InitAlpha == 0 {
		return stats.DefaultInitAlpha
	}
	return p.InitAlpha
}

// AuditSeedFor is the seed of the policy's audit draw on ev: AuditSeed when set, otherwise
// SubSeed(AuditNonce, "audit:"+manifest hash, 0), which depends on the committed proof and
// on a nonce the verifier drew after reading it.
func (p Policy) AuditSeedFor(ev *Evidence) uint64 {
	if p.AuditSeed != 0 {
		return p.AuditSeed
	}
	return data.SubSeed(ev.AuditNonce, "audit:"+ev.Manifest, 0)
}

// Selection returns the intervals the policy re-executes, split into the top-Q union and
// the random audits, each sorted by index.
//
// Per epoch (Interval.Epoch, or the policy's EpochRule; intervals in no epoch are neither
// ranked nor audited), for each chosen metric, the Q intervals with the largest
// update magnitude (ties: lower index first) are taken, and the union over metrics forms
// the top-Q set; then Audit intervals are drawn uniformly without replacement from the
// epoch's remaining intervals, with a PCG seeded by SubSeed(AuditSeedFor(ev), "audit", epoch).
// Q <= 0 selects every interval (and leaves nothing to audit).
func (p Policy) Selection(ev *Evidence) (top, audit []int) {
	if p.Q <= 0 {
		for i := range ev.Intervals {
			top = append(top, i)
		}
		return top, nil
	}
	seed := p.AuditSeedFor(ev)
	byEpoch := map[int][]int{}
	var epochs []int
	for i, e := range p.epochsOf(ev) {
		if e < 0 {
			continue
		}
		if _, ok := byEpoch[e]; !ok {
			epochs = append(epochs, e)
		}
		byEpoch[e] = append(byEpoch[e], i)
	}
	slices.Sort(epochs)
	for _, e := range epochs {
		members := byEpoch[e]
		chosen := map[int]bool{}
		for _, m := range p.metrics() {
			ranked := slices.Clone(members)
			slices.SortStableFunc(ranked, func(a, b int) int {
				va, _ := ev.Intervals[a].Update.Get(m)
				vb, _ := ev.Intervals[b].Update.Get(m)
				return cmp.Or(-cmpNaNLargest(va, vb), cmp.Compare(a, b))
			})
			for _, i := range ranked[:min(p.Q, len(ranked))] {
				chosen[i] = true
			}
		}
		var rest []int
		for _, i := range members {
			if chosen[i] {
				top = append(top, i)
			} else {
				rest = append(rest, i)
			}
		}
		if p.Audit > 0 && len(rest) > 0 {
			src := data.NewPCG(data.SubSeed(seed, "audit", e))
			// Partial Fisher-Yates: the first Audit entries are a uniform sample.
			n := min(p.Audit, len(rest))
			for j := 0; j < n; j++ {
				r := j + int(uniformBelow(src, uint64(len(rest)-j)))
				rest[j], rest[r] = rest[r], rest[j]
			}
			audit = append(audit, rest[:n]...)
		}
	}
	slices.Sort(top)
	slices.Sort(audit)
	return top, audit
}

// cmpNaNLargest compares two magnitudes treating NaN as larger than anything, so a NaN
// update (which a valid proof cannot have) is always selected.
func cmpNaNLargest(a, b float64) int {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}

// uniformBelow draws uniformly from [0, n) by rejection on whole 64-bit outputs, so the draw
// depends only on the PCG stream. n must be positive.
func uniformBelow(src interface{ Uint64() uint64 }, n uint64) uint64 {
	reject := -n % n
	for {
		if r := src.Uint64(); r >= reject {
			return r % n
		}
	}
}

// Needed is the sorted union of Selection: every interval the policy must see re-executed.
func (p Policy) Needed(ev *Evidence) []int {
	top, audit := p.Selection(ev)
	out := append(slices.Clone(top), audit...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Decide applies the checks in order init, data, membership (if enabled), hparams (under
// enforce-manifest), then top-Q and audit intervals in index order, and returns the first
// failure. It never re-executes: a needed interval missing from ev gives CheckIncomplete.
func (p Policy) Decide(ev *Evidence) Verdict {
	seed := p.AuditSeedFor(ev)
	reject := func(check string, interval, step int, format string, a ...any) Verdict {
		return Verdict{Check: check, Interval: interval, Step: step, Reason: fmt.Sprintf(format, a...), AuditSeed: seed}
	}
	if err := p.Validate(); err != nil {
		return reject(CheckIncomplete, -1, -1, "%v", err)
	}
	if alpha := p.initAlpha(); alpha > 0 {
		if !ev.Init.Checked {
			return reject(CheckIncomplete, -1, -1, "the initialization check was not run")
		}
		reason, ok := initFailure(ev.Init, alpha, p.InitCorrection)
		if !ok {
			return reject(CheckIncomplete, -1, -1, "the initialization check recorded no per-tensor p-values for the %s correction", InitHolm)
		}
		if reason != "" {
			return reject(CheckInit, -1, 0, "%s", reason)
		}
	}
	if !ev.Data.Checked {
		return reject(CheckIncomplete, -1, -1, "the data check was not run")
	}
	if !ev.Data.OK() {
		step := ev.Data.FirstBadStep
		return reject(CheckData, intervalOfStep(ev, step), step, "%s", ev.Data.Reason)
	}
	if p.Membership {
		if !ev.Membership.Checked {
			return reject(CheckIncomplete, -1, -1, "the membership check was not run")
		}
		if ev.Membership.Foreign > 0 {
			step := ev.Membership.FirstForeignStep
			return reject(CheckMembership, intervalOfStep(ev, step), step,
				"%d of %d payload points are not in the declared dataset %s (first used at step %d)",
				ev.Membership.Foreign, ev.Membership.PayloadPoints, ev.Dataset, step)
		}
	}
	mode := p.HparamsMode()
	if mode == HparamsEnforceManifest {
		if !ev.Hparams.Checked {
			return reject(CheckIncomplete, -1, -1, "the hyperparameter check was not run")
		}
		if ev.Hparams.FirstMismatch >= 0 {
			h := ev.Hparams
			return reject(CheckHparams, min(h.FirstMismatch, len(ev.Intervals)-1), h.Step,
				"checkpoint %d (step %d) disagrees with the manifest: %s", h.FirstMismatch, h.Step, h.Reason)
		}
	}
	if p.EpochRule == stats.EpochRuleVerifyPy && ev.Epochs <= 0 && p.Q > 0 {
		return reject(CheckIncomplete, -1, -1, "the %s epoch rule needs the manifest's epochs, which the evidence lacks", stats.EpochRuleVerifyPy)
	}
	if p.Normalized && ev.DRef == nil {
		return reject(CheckIncomplete, -1, -1, "normalised thresholds need a d_ref calibration")
	}
	top, _ := p.Selection(ev)
	inTop := map[int]bool{}
	for _, i := range top {
		inTop[i] = true
	}
	for _, i := range p.Needed(ev) {
		iv := ev.Intervals[i]
		r := iv.Repro[mode]
		if r == nil {
			return reject(CheckIncomplete, i, iv.Start, "interval %d (steps %d-%d) was not re-executed under %s", i, iv.Start, iv.End, mode)
		}
		check := CheckAudit
		if inTop[i] {
			check = CheckTopQ
		}
		if r.Failure != "" { // fails whatever delta is
			return reject(check, i, iv.Start, "interval %d (steps %d-%d): re-execution failed: %s", i, iv.Start, iv.End, r.Failure)
		}
		dist := r.Raw
		if p.Normalized {
			dist = r.Raw.Normalize(*ev.DRef)
		}
		for _, m := range p.metrics() {
			d, _ := dist.Get(m)
			delta, _ := p.Delta.Get(m)
			if !(d <= delta) { // NaN fails too
				unit := ""
				if p.Normalized {
					unit = " of d_ref"
				}
				return reject(check, i, iv.Start, "interval %d (steps %d-%d): re-execution is at %s distance %.6g%s > delta %.6g",
					i, iv.Start, iv.End, m, d, unit, delta)
			}
		}
	}
	return Verdict{Accepted: true, Interval: -1, Step: -1, AuditSeed: seed}
}

// intervalOfStep is the interval containing step (-1 if none or step < 0).
func intervalOfStep(ev *Evidence, step int) int {
	if step < 0 {
		return -1
	}
	for i, iv := range ev.Intervals {
		if step >= iv.Start && step < iv.End {
			return i
		}
	}
	return -1
}

// String describes the policy compactly (for logs and grids).
func (p Policy) String() string {
	var ds []string
	for _, m := range p.metrics() {
		v, _ := p.Delta.Get(m)
		ds = append(ds, fmt.Sprintf("%s=%g", m, v))
	}
	norm := ""
	if p.Normalized {
		norm = " normalized"
	}
	return fmt.Sprintf("q=%d audit=%d delta{%s}%s hparams=%s", p.Q, p.Audit, strings.Join(ds, ","), norm, p.HparamsMode())
}
