package zhang

import (
	"slices"
	"testing"

	"pollab/internal/attacktest"
	"pollab/internal/prooftest"
	"pollab/stats"
	"pollab/verifier"
)

// verifyForged runs the real verifier on a forged proof under the exact env with the given
// policies, re-executing what they need.
func verifyForged(t *testing.T, dir string, pols []verifier.Policy) (*verifier.Evidence, []verifier.Verdict) {
	t.Helper()
	ev := attacktest.Gather(t, prooftest.OpenAll(t, dir), "exact", pols...)
	var out []verifier.Verdict
	for _, pol := range pols {
		out = append(out, pol.Decide(ev))
	}
	return ev, out
}

// Forged proofs go through verifier.Gather + Policy.Decide: the reference policy (top-1 at
// l1 1000 / l2 10 / linf 0.1 / cos 0.01) and the same thresholds on every interval accept
// variants II and III (init, data and re-execution all pass), the verifier's re-executed
// distances are the attack's own replay distances, the manifest-enforcing hyperparameter
// check passes (the checkpoints' lr and momentum are the replay's), and the membership
// policy rejects every variant: the crafted points are not in the training set.
func TestForgedProofsThroughVerifier(t *testing.T) {
	ref := verifier.DefaultPolicy()
	all := ref
	all.Select.Q = 0
	enforce := verifier.Reference(all.Select, stats.ReferenceDelta, verifier.HparamsCheck{})
	member := verifier.Reference(ref.Select, stats.ReferenceDelta, verifier.MembershipCheck{})
	pols := []verifier.Policy{ref, all, enforce, member}

	for _, tc := range []struct {
		name       string
		cfg        Config
		momentum   bool
		mustAccept bool
	}{
		{"I", Config{Variant: VariantI, Iters: 10, Lambda: -1}, false, false},
		{"II", Config{Variant: VariantII, Lambda: -1}, true, true},
		{"III", Config{Variant: VariantIII, Lambda: -1}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt := honestTarget(t, tc.momentum)
			cfg := tc.cfg
			cfg.Steps, cfg.K, cfg.Retries, cfg.Seed = 32, 4, 1, 4
			rep, out := forge(t, tgt, cfg)
			ev, verdicts := verifyForged(t, out, pols)
			if !(ev.Init.MinP >= 0.01) || !ev.Data.OK() {
				t.Fatalf("init p %.3g, data %+v: a forged proof must pass both", ev.Init.MinP, ev.Data)
			}
			for i, iv := range ev.Intervals {
				r := iv.Repro[verifier.HparamsTrustCheckpoint]
				if r == nil {
					t.Fatalf("interval %d not re-executed under Q = 0", i)
				}
				if r.Raw != rep.Intervals[i].Replay {
					t.Errorf("interval %d: verifier measured %v, attack replay %v", i, r.Raw, rep.Intervals[i].Replay)
				}
			}
			if v := verdicts[3]; v.Accepted || v.Check != verifier.CheckMembership {
				t.Errorf("membership policy: %+v, want rejected by %s", v, verifier.CheckMembership)
			}
			if ev.Membership.Foreign != ev.Membership.PayloadPoints || ev.Membership.Foreign != cfg.Steps*tgt.Manifest.Batch {
				t.Errorf("membership: %d foreign of %d payload points, want all %d", ev.Membership.Foreign, ev.Membership.PayloadPoints, cfg.Steps*tgt.Manifest.Batch)
			}
			if tc.mustAccept {
				for i, v := range verdicts[:3] {
					if !v.Accepted {
						t.Errorf("policy %s: rejected by %s: %s", pols[i], v.Check, v.Reason)
					}
				}
			}
			t.Logf("%s: verdicts ref %s, all %s, enforce %s, membership %s; max replay %v",
				tc.name, verdictWord(verdicts[0]), verdictWord(verdicts[1]), verdictWord(verdicts[2]), verdictWord(verdicts[3]), rep.MaxReplay)
		})
	}
}

func verdictWord(v verifier.Verdict) string {
	if v.Accepted {
		return "accepted"
	}
	return "rejected(" + v.Check + ")"
}

// The ledger saved with the proof counts second-order passes and one training step per
// forged step; the cost report is consistent with it.
func TestCostReport(t *testing.T) {
	tgt := honestTarget(t, false)
	cfg := Config{Variant: VariantIII, Lambda: -1, Steps: 8, K: 4, Retries: 1, Iters: 10, Seed: 2}
	rep, _ := forge(t, tgt, cfg)
	c := rep.Cost
	evals := 0
	for _, s := range rep.StepStats {
		evals += s.Evaluations
	}
	// Symbolic GradMatch: one second-order pass per evaluation; the replay: one LossGrad per step.
	if c.SecondOrder != int64(evals) {
		t.Errorf("%d second-order passes, %d objective evaluations", c.SecondOrder, evals)
	}
	if c.Backward != int64(evals+cfg.Steps) {
		t.Errorf("%d backward passes, want %d evaluations + %d replay steps", c.Backward, evals, cfg.Steps)
	}
	// Each evaluation is 3 gradient-equivalents, each replay step 1.
	want := float64(3*evals+cfg.Steps) / float64(cfg.Steps)
	if d := rep.GradEquivPerStep - want; d > 1e-9 || d < -1e-9 {
		t.Errorf("%.6g gradient-equivalents per step, want %.6g", rep.GradEquivPerStep, want)
	}
	if !(rep.CostFraction.FLOPs > 1) || !(rep.BreakEven > 0 && rep.BreakEven < 1) {
		t.Errorf("cost fraction %.3g (per step vs honest), break-even %.3g", rep.CostFraction.FLOPs, rep.BreakEven)
	}
	if !slices.ContainsFunc(rep.StepStats, func(s StepStats) bool { return s.Evaluations > 0 }) {
		t.Error("no evaluations recorded")
	}
}
