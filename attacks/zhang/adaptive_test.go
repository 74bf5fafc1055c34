package zhang

import (
	"testing"

	"pollab/attacks"
	"pollab/internal/attacktest"
	"pollab/internal/prooftest"
	"pollab/stats"
	"pollab/verifier"
)

// The adaptive variants against the real verifier. Restricted to real training points
// (crafting by selection), Zhang II passes the membership check that rejects the naive
// attack's crafted points, at a lower cost (one gradient per candidate batch, no
// second-order pass: 4 candidate gradients and the replay per step); its batch table is no committed schedule. From the committed seed's
// honest W0 the proof keeps the W0 commitment (not the batch one: its batches are crafted),
// and at the same T' its longer line leaves a larger re-execution error.
func TestAdaptiveVariantsThroughVerifier(t *testing.T) {
	tgt := honestTarget(t, false)
	member := verifier.Reference(verifier.DefaultPolicy().Select, stats.ReferenceDelta, verifier.MembershipCheck{})
	pols := []verifier.Policy{member}
	run := func(cfg Config) (*Report, string) {
		t.Helper()
		cfg.Variant, cfg.Steps, cfg.K, cfg.Retries, cfg.Seed, cfg.Lambda = VariantII, 32, 4, 4, 4, -1
		return forge(t, tgt, cfg)
	}
	naive, naiveDir := run(Config{})
	real, realDir := run(Config{Points: PointsReal})
	committed, committedDir := run(Config{Init: attacks.InitCommitted})

	if _, v := verifyForged(t, naiveDir, pols); v[0].Check != verifier.CheckMembership {
		t.Errorf("naive zhang-II under membership: %+v, want rejected by membership", v[0])
	}
	ev, v := verifyForged(t, realDir, pols)
	if ev.Membership.PayloadPoints != 0 || !ev.Data.OK() || !(ev.Init.MinP >= 0.01) {
		t.Errorf("real points: membership %+v, data %+v, init p %g", ev.Membership, ev.Data, ev.Init.MinP)
	}
	if !v[0].Accepted && (v[0].Check == verifier.CheckMembership || v[0].Check == verifier.CheckData) {
		t.Errorf("real points rejected by %s: %s", v[0].Check, v[0].Reason)
	}
	if real.Cost.SecondOrder != 0 || real.Cost.Backward != int64(32*4+32) || !(real.Cost.FLOPs < naive.Cost.FLOPs) {
		t.Errorf("real points cost %+v; naive %g FLOPs", real.Cost, naive.Cost.FLOPs)
	}
	if w0OK, tabOK := attacktest.Commitment(t, prooftest.OpenAll(t, realDir)); w0OK || tabOK {
		t.Errorf("real points: commitment W0 %v, batches %v; want both broken", w0OK, tabOK)
	}
	if w0OK, tabOK := attacktest.Commitment(t, prooftest.OpenAll(t, committedDir)); !w0OK || tabOK {
		t.Errorf("committed: commitment W0 %v (want true), batches %v (want false)", w0OK, tabOK)
	}
	if !(committed.InitToWT > 2*naive.InitToWT && committed.MaxReplay.L2 > naive.MaxReplay.L2) {
		t.Errorf("committed: |W0-W_T| %g, max replay l2 %g; naive %g, %g", committed.InitToWT, committed.MaxReplay.L2, naive.InitToWT, naive.MaxReplay.L2)
	}
	t.Logf("max replay l2: naive %.4g, real points %.4g, committed %.4g; FLOPs real/naive %.3g, committed/naive %.3g; verdict real points %v %s",
		naive.MaxReplay.L2, real.MaxReplay.L2, committed.MaxReplay.L2, real.Cost.FLOPs/naive.Cost.FLOPs, committed.Cost.FLOPs/naive.Cost.FLOPs, v[0].Accepted, v[0].Check)
}
