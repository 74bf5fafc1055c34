package verifier

import "pollab/stats"

// flat describes a policy in the shape of the reference verifier's settings (a selection,
// thresholds, and which of the lab's checks are on), for tests that vary one setting at a
// time. InitAlpha 0 means stats.DefaultInitAlpha, < 0 leaves the init check out.
type flat struct {
	Delta          stats.Distances
	Metrics        []string
	Normalized     bool
	Q, Audit       int
	AuditSeed      uint64
	InitAlpha      float64
	InitCorrection string
	Membership     bool
	Hparams        string
	EpochRule      string
}

func (f flat) policy() Policy {
	p := Policy{Select: Selection{Q: f.Q, Metrics: f.Metrics, Audit: f.Audit, AuditSeed: f.AuditSeed, EpochRule: f.EpochRule}}
	switch {
	case f.InitAlpha == 0:
		p.Checks = append(p.Checks, InitCheck{Alpha: stats.DefaultInitAlpha, Correction: f.InitCorrection})
	case f.InitAlpha > 0:
		p.Checks = append(p.Checks, InitCheck{Alpha: f.InitAlpha, Correction: f.InitCorrection})
	}
	p.Checks = append(p.Checks, DataCheck{})
	if f.Membership {
		p.Checks = append(p.Checks, MembershipCheck{})
	}
	if f.Hparams == HparamsEnforceManifest {
		p.Checks = append(p.Checks, HparamsCheck{})
	}
	return append1(p, ReplayCheck{Delta: f.Delta, Metrics: f.Metrics, Normalized: f.Normalized})
}

func append1(p Policy, c Check) Policy { p.Checks = append(p.Checks, c); return p }

func (f flat) Decide(ev *Evidence) Verdict               { return f.policy().Decide(ev) }
func (f flat) Needed(ev *Evidence) []int                 { return f.policy().Needed(ev) }
func (f flat) Selection(ev *Evidence) (top, audit []int) { return f.policy().Selection(ev) }
func (f flat) AuditSeedFor(ev *Evidence) uint64          { return f.policy().AuditSeedFor(ev) }
func (f flat) Validate() error                           { return f.policy().Validate() }
func (f flat) HparamsMode() string                       { return f.policy().HparamsMode() }

func (p Policy) policy() Policy { return p }

// policier is a Policy or a flat description of one.
type policier interface{ policy() Policy }

func policies(ps ...policier) []Policy {
	out := make([]Policy, len(ps))
	for i, p := range ps {
		out[i] = p.policy()
	}
	return out
}

func policiesOf(fs []flat) []policier {
	out := make([]policier, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

func (f flat) String() string { return f.policy().String() }
