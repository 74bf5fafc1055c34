package verifier

import (
	"cmp"
	"encoding/json"
	"errors"
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

// Selection is a policy's choice of the intervals to re-execute: the top-Q by update
// magnitude per epoch and metric, plus random audits.
type Selection struct {
	// Q is how many intervals per epoch and metric top-Q re-executes (<= 0: all of them).
	Q int `json:"q"`
	// Metrics rank the updates for top-Q; empty means all four.
	Metrics []string `json:"metrics"`
	// Audit is how many more intervals per epoch are drawn uniformly from the rest.
	Audit int `json:"audit"`
	// AuditSeed fixes the audit draw; 0 lets the verifier derive it from the manifest hash
	// and its secret nonce (Evidence.AuditNonce), which the prover cannot predict.
	AuditSeed uint64 `json:"audit_seed"`
	// EpochRule groups intervals into epochs for Top-Q and audits: stats.EpochRuleStart (default,
	// "") or stats.EpochRuleVerifyPy (see stats.IntervalEpochs).
	EpochRule string `json:"epoch_rule,omitempty"`
}

// Policy is a verifier's decision rule: an interval selection (which intervals to
// re-execute) and a list of checks, judged in order (Decide).
type Policy struct {
	Select Selection
	Checks []Check
}

// MarshalJSON writes the selection and every check as {"check": name, "config": value}.
func (p Policy) MarshalJSON() ([]byte, error) {
	type named struct {
		Check  string `json:"check"`
		Config Check  `json:"config"`
	}
	checks := make([]named, len(p.Checks))
	for i, c := range p.Checks {
		checks[i] = named{c.Name(), c}
	}
	return json.Marshal(struct {
		Select Selection `json:"select"`
		Checks []named   `json:"checks"`
	}{p.Select, checks})
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
	return Reference(Selection{Q: 1, Metrics: slices.Clone(stats.Metrics)}, stats.ReferenceDelta)
}

// Reference is the reference verifier's policy shape at sel and raw thresholds delta: the
// init check (KS at stats.DefaultInitAlpha, min-p), the data check, then checks (in the
// order given: HparamsCheck{} for enforce-manifest, MembershipCheck{}, ...), then the
// replay of sel's intervals at delta in sel's metrics.
func Reference(sel Selection, delta stats.Distances, checks ...Check) Policy {
	p := Policy{Select: sel, Checks: []Check{InitCheck{Alpha: stats.DefaultInitAlpha}, DataCheck{}}}
	p.Checks = append(p.Checks, checks...)
	p.Checks = append(p.Checks, ReplayCheck{Delta: delta, Metrics: slices.Clone(sel.Metrics)})
	return p
}

// NewPolicy is the policy of sel with checks, in the order given.
func NewPolicy(sel Selection, checks ...Check) Policy { return Policy{Select: sel, Checks: checks} }

// Validate checks the selection and every check's configuration.
func (p Policy) Validate() error {
	if err := p.Select.Validate(); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range p.Checks {
		if c == nil {
			return errors.New("policy: a nil check")
		}
		if seen[c.Name()] {
			return fmt.Errorf("policy: check %s listed twice", c.Name())
		}
		seen[c.Name()] = true
		if v, ok := c.(Validator); ok {
			if err := v.Validate(); err != nil {
				return fmt.Errorf("policy: %w", err)
			}
		}
	}
	return nil
}

// Validate checks the selection's fields.
func (s Selection) Validate() error {
	if err := validMetrics(s.Metrics); err != nil {
		return err
	}
	if s.Audit < 0 {
		return fmt.Errorf("audit %d: want >= 0", s.Audit)
	}
	if _, err := stats.ParseEpochRule(s.EpochRule); err != nil {
		return err
	}
	return nil
}

func validMetrics(ms []string) error {
	for _, m := range ms {
		if _, err := (stats.Distances{}).Get(m); err != nil {
			return err
		}
	}
	return nil
}

func metricsOrAll(ms []string) []string {
	if len(ms) == 0 {
		return stats.Metrics
	}
	return ms
}

// Has reports whether the policy holds a check of that name.
func (p Policy) Has(name string) bool {
	return slices.ContainsFunc(p.Checks, func(c Check) bool { return c.Name() == name })
}

// HparamsMode is the hyperparameter mode the policy re-executes under: enforce-manifest
// when it holds the hparams check (the manifest's schedule is then the one re-executed),
// trust-checkpoint otherwise.
func (p Policy) HparamsMode() string {
	if p.Has(CheckHparams) {
		return HparamsEnforceManifest
	}
	return HparamsTrustCheckpoint
}

// replays reports whether some check of the policy judges re-executions.
func (p Policy) replays() bool {
	return slices.ContainsFunc(p.Checks, func(c Check) bool { _, ok := c.(Replaying); return ok })
}

// AuditSeedFor is the seed of the policy's audit draw on ev: AuditSeed when set, otherwise
// SubSeed(AuditNonce, "audit:"+manifest hash, 0), which depends on the committed proof and
// on a nonce the verifier drew after reading it.
func (p Policy) AuditSeedFor(ev *Evidence) uint64 { return p.Select.seedFor(ev) }

func (s Selection) seedFor(ev *Evidence) uint64 {
	if s.AuditSeed != 0 {
		return s.AuditSeed
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
	return p.Select.Intervals(ev)
}

// Intervals is the selection on ev: the top-Q union and the audits, each sorted by index
// (Policy.Selection documents the draw).
func (s Selection) Intervals(ev *Evidence) (top, audit []int) {
	p := s
	if p.Q <= 0 {
		for i := range ev.Intervals {
			top = append(top, i)
		}
		return top, nil
	}
	seed := p.seedFor(ev)
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
		for _, m := range metricsOrAll(p.Metrics) {
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

// Needed is the sorted union of Selection when the policy holds a check of re-executions
// (nothing otherwise): every interval the policy must see re-executed.
func (p Policy) Needed(ev *Evidence) []int {
	if !p.replays() {
		return nil
	}
	top, audit := p.Selection(ev)
	out := append(slices.Clone(top), audit...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Decide judges ev with the policy's checks in order and returns the first rejection. It
// never re-executes: a finding or a needed interval missing from ev gives CheckIncomplete.
// Before the first check of re-executions it checks that the selection can be made (the
// verify.py epoch rule needs the manifest's epochs).
func (p Policy) Decide(ev *Evidence) Verdict {
	seed := p.AuditSeedFor(ev)
	verdict := func(r *Rejection) Verdict {
		return Verdict{Check: r.Check, Interval: r.Interval, Step: r.Step, Reason: r.Reason, AuditSeed: seed}
	}
	if err := p.Validate(); err != nil {
		return verdict(Incomplete("%v", err))
	}
	var j *Judging
	for _, c := range p.Checks {
		if _, ok := c.(Replaying); ok && j == nil {
			if p.Select.EpochRule == stats.EpochRuleVerifyPy && ev.Epochs <= 0 && p.Select.Q > 0 {
				return verdict(Incomplete("the %s epoch rule needs the manifest's epochs, which the evidence lacks", stats.EpochRuleVerifyPy))
			}
			top, audit := p.Selection(ev)
			j = &Judging{Ev: ev, Top: top, Audit: audit, Mode: p.HparamsMode()}
		}
		jj := j
		if jj == nil {
			jj = &Judging{Ev: ev, Mode: p.HparamsMode()}
		}
		if r := c.Judge(jj); r != nil {
			return verdict(r)
		}
	}
	return Verdict{Accepted: true, Interval: -1, Step: -1, AuditSeed: seed}
}

// rejectAtStep is check's rejection at step, in the interval containing it (-1 if none or
// step < 0).
func rejectAtStep(ev *Evidence, check string, step int, format string, a ...any) *Rejection {
	interval := -1
	for i, iv := range ev.Intervals {
		if step >= 0 && step >= iv.Start && step < iv.End {
			interval = i
			break
		}
	}
	return Reject(check, interval, step, format, a...)
}

// String describes the policy compactly (for logs and grids): the selection and each
// check.
func (p Policy) String() string {
	parts := []string{fmt.Sprintf("q=%d audit=%d", p.Select.Q, p.Select.Audit)}
	for _, c := range p.Checks {
		if s, ok := c.(fmt.Stringer); ok {
			parts = append(parts, s.String())
		} else {
			parts = append(parts, c.Name())
		}
	}
	return strings.Join(parts, " ")
}

// DeltaIndependent reports whether a rejection by check (a Verdict.Check) stands whatever
// the replay threshold: CheckIncomplete and every registered check but the replay (whose
// rejections are CheckTopQ and CheckAudit).
func DeltaIndependent(check string) bool {
	if check == CheckIncomplete {
		return true
	}
	_, err := LookupKind(check)
	return err == nil && check != CheckReplay
}
