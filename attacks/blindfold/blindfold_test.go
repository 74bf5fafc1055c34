package blindfold

import (
	"context"
	"path/filepath"
	"sort"
	"testing"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/internal/attacktest"
	"pollab/proof"
	"pollab/stats"
	"pollab/verifier"
)

// honestTarget trains a tiny honest run (batch 8: 32 steps per epoch) as the target.
func honestTarget(t *testing.T, dt autodiff.DType, h proof.Hyper) *attacks.Target {
	return attacktest.TinyTarget(t, dt, h, 8)
}

// testDelta is an l2 threshold the small layout can meet: d0/8.
func testDelta(t *testing.T, tg *attacks.Target, seed uint64) float64 {
	return attacktest.InitDistance(t, tg, seed) / 8
}

// forge runs the attack (attacktest.Forge) and returns its full report with the proof.
func forge(t *testing.T, tg *attacks.Target, cfg Config) (*Report, *proof.Proof) {
	t.Helper()
	res, p := attacktest.Forge(t, &Attack{Config: cfg}, tg)
	return res.Report.(*Report), p
}

// gatherAll is the real verifier's Evidence on p with every interval re-executed (under
// enforce-manifest with hparams so).
func gatherAll(t *testing.T, p *proof.Proof, env string, hparams string) *verifier.Evidence {
	t.Helper()
	all := verifier.Reference(verifier.Selection{Metrics: []string{stats.MetricL2}}, stats.Distances{})
	if hparams == verifier.HparamsEnforceManifest {
		all = verifier.Reference(all.Select, stats.Distances{}, verifier.HparamsCheck{})
	}
	return attacktest.Gather(t, p, env, all)
}

func policy(delta float64, q, audit int, seed uint64) verifier.Policy {
	return verifier.Reference(verifier.Selection{Metrics: []string{stats.MetricL2}, Q: q, Audit: audit, AuditSeed: seed}, stats.Distances{L2: delta})
}

// acceptRate decides the same evidence under audit seeds 1..seeds.
func acceptRate(ev *verifier.Evidence, delta float64, q, audit, seeds int) float64 {
	acc := 0
	for s := 1; s <= seeds; s++ {
		if policy(delta, q, audit, uint64(s)).Decide(ev).Accepted {
			acc++
		}
	}
	return float64(acc) / float64(seeds)
}

func TestGenuineIntervalsReproduceAndLeadTheirEpochs(t *testing.T) {
	tg := honestTarget(t, autodiff.Float32, proof.Hyper{LR: 0.05})
	delta := testDelta(t, tg, 1)
	b := attacktest.L2Budget(t, delta)
	cfg := Config{Epochs: 3, Q: 2, K: 2, Budget: b, Seed: 1, InterpLR: InterpGenuine}
	rep, p := forge(t, tg, cfg)
	if rep.VerifierEpochs != 3 || rep.Steps != 96 || len(rep.GenuineIntervals) != 6 {
		t.Fatalf("layout: %d epochs, %d steps, genuine %v", rep.VerifierEpochs, rep.Steps, rep.GenuineIntervals)
	}
	if rep.Cost.Backward < int64(rep.GenuineSteps) {
		t.Fatalf("ledger has %d gradient passes for %d genuine steps", rep.Cost.Backward, rep.GenuineSteps)
	}
	ev := gatherAll(t, p, "exact", verifier.HparamsTrustCheckpoint)
	genuine := map[int]bool{}
	for _, i := range rep.GenuineIntervals {
		genuine[i] = true
		// Genuine intervals are reproduced bit for bit by the verifier's re-execution.
		if d := ev.Intervals[i].Repro[verifier.HparamsTrustCheckpoint].Raw.L2; d != 0 {
			t.Errorf("genuine interval %d: re-execution at l2 %g, want 0", i, d)
		}
	}
	// In every epoch the q genuine intervals are the q largest updates.
	byEpoch := map[int][]int{}
	for i, iv := range ev.Intervals {
		byEpoch[iv.Epoch] = append(byEpoch[iv.Epoch], i)
	}
	for e, members := range byEpoch {
		sort.SliceStable(members, func(a, b int) bool { return ev.Intervals[members[a]].Update.L2 > ev.Intervals[members[b]].Update.L2 })
		for r, i := range members[:cfg.Q] {
			if !genuine[i] {
				t.Errorf("epoch %d: rank %d is interval %d, not a genuine one", e, r, i)
			}
		}
	}
	// Accepted for Q <= q; Q = q+1 reaches an interpolated interval, whose re-execution at the
	// genuine lr lands far away; enforce-manifest rejects at the hyperparameter check.
	for q := 1; q <= cfg.Q; q++ {
		if v := policy(delta, q, 0, 1).Decide(ev); !v.Accepted {
			t.Errorf("Q = %d <= q: rejected: %s %s", q, v.Check, v.Reason)
		}
	}
	if v := policy(delta, cfg.Q+1, 0, 1).Decide(ev); v.Accepted || v.Check != verifier.CheckTopQ {
		t.Errorf("Q = q+1: %+v", v)
	}
	enforce := policy(delta, 1, 0, 1)
	enforce = verifier.Reference(enforce.Select, stats.Distances{L2: delta}, verifier.HparamsCheck{})
	if v := enforce.Decide(gatherAll(t, p, "exact", verifier.HparamsEnforceManifest)); v.Accepted || v.Check != verifier.CheckHparams {
		t.Errorf("enforce-manifest: %+v", v)
	}
	// Random audits: any audited interpolated interval fails.
	for _, r := range []int{1, 2, 5} {
		for _, q := range []int{1, cfg.Q} {
			rate := acceptRate(ev, delta, q, r, 40)
			t.Logf("interp lr genuine: Q %d, R %d audits/epoch: accept rate %.3f over 40 audit seeds", q, r, rate)
			if rate > 0.1 {
				t.Errorf("Q %d, R %d: accept rate %g", q, r, rate)
			}
		}
	}
	t.Logf("d0 %.4g delta %.4g target update %.4g max gap %.4g genuine steps %d of %d, cost fraction %.3g (FLOPs)",
		rep.D0, delta, rep.Target, rep.MaxGap, rep.GenuineSteps, rep.Steps, rep.CostFraction.FLOPs)
}

// With the infinitesimal lr on its interpolated checkpoints the proof passes every top-Q
// and every random audit under trust-checkpoint: audits are no defence while checkpoints'
// lr is trusted.
func TestTinyInterpolatedLRPassesAudits(t *testing.T) {
	tg := honestTarget(t, autodiff.Float32, proof.Hyper{LR: 0.05})
	delta := testDelta(t, tg, 2)
	b := attacktest.L2Budget(t, delta)
	rep, p := forge(t, tg, Config{Epochs: 3, Q: 2, K: 2, Budget: b, Seed: 2, InterpLR: InterpTiny})
	for _, env := range []string{"exact", "microbatch:4"} {
		ev := gatherAll(t, p, env, verifier.HparamsTrustCheckpoint)
		for _, r := range []int{0, 1, 2, 5} {
			rate := acceptRate(ev, delta, 2, r, 10)
			t.Logf("interp lr tiny, env %s: Q 2, R %d: accept rate %.2f", env, r, rate)
			if rate != 1 {
				t.Errorf("env %s, R %d: accept rate %g, want 1", env, r, rate)
			}
		}
	}
	t.Logf("cost fraction %.3g (FLOPs), %d genuine of %d steps", rep.CostFraction.FLOPs, rep.GenuineSteps, rep.Steps)
}

// Momentum: the genuine intervals' momentum buffers are stored, so re-execution from a
// checkpoint inside the genuine block is still exact.
func TestMomentumGenuineIntervalsExact(t *testing.T) {
	tg := honestTarget(t, autodiff.Float64, proof.Hyper{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4})
	delta := testDelta(t, tg, 3)
	b := attacktest.L2Budget(t, delta)
	rep, p := forge(t, tg, Config{Epochs: 2, Q: 3, K: 2, Budget: b, Seed: 3})
	ev := gatherAll(t, p, "exact", verifier.HparamsTrustCheckpoint)
	for _, i := range rep.GenuineIntervals {
		if d := ev.Intervals[i].Repro[verifier.HparamsTrustCheckpoint].Raw.L2; d != 0 {
			t.Errorf("genuine interval %d: re-execution at l2 %g", i, d)
		}
	}
	if v := policy(delta, 3, 0, 1).Decide(ev); !v.Accepted {
		t.Fatalf("rejected: %s %s", v.Check, v.Reason)
	}
}

func TestEpochTooShortIsAnError(t *testing.T) {
	tg := honestTarget(t, autodiff.Float32, proof.Hyper{LR: 0.05})
	b := attacktest.L2Budget(t, 0.1)
	_, err := (&Attack{Config: Config{Epochs: 2, Q: 16, K: 2, SpoofSteps: 2, Budget: b}}).Run(context.Background(), tg, filepath.Join(t.TempDir(), "x"), attacks.Options{})
	if err == nil {
		t.Fatal("a layout with no interpolated interval per epoch was accepted")
	}
}

// The default, Fang et al.'s setting: interpolated checkpoints claim the task's lr, so an
// audited interpolated interval re-executes one honest interval's update on top of its gap.
// Top-Q with Q <= q accepts; the accept rate falls with R random audits per epoch.
func TestManifestLRAuditAcceptRates(t *testing.T) {
	tg := honestTarget(t, autodiff.Float32, proof.Hyper{LR: 0.5})
	delta := testDelta(t, tg, 4)
	b := attacktest.L2Budget(t, delta)
	rep, p := forge(t, tg, Config{Epochs: 3, Q: 2, K: 2, Budget: b, Seed: 4})
	if rep.Config.InterpLR != InterpManifest {
		t.Fatalf("default interpolated lr %q", rep.Config.InterpLR)
	}
	ev := gatherAll(t, p, "exact", verifier.HparamsTrustCheckpoint)
	for q := 1; q <= 2; q++ {
		if v := policy(delta, q, 0, 1).Decide(ev); !v.Accepted {
			t.Fatalf("Q = %d: rejected: %s %s", q, v.Check, v.Reason)
		}
	}
	failing := 0
	for _, iv := range ev.Intervals {
		if iv.Repro[verifier.HparamsTrustCheckpoint].Raw.L2 > delta {
			failing++
		}
	}
	prev := 1.0
	for _, r := range []int{1, 2, 5} {
		rate := acceptRate(ev, delta, 2, r, 40)
		t.Logf("interp lr manifest: Q 2, R %d audits/epoch: accept rate %.3f over 40 audit seeds (%d of %d intervals fail re-execution)", r, rate, failing, len(ev.Intervals))
		if rate > prev {
			t.Errorf("accept rate rose from %g to %g with R = %d", prev, rate, r)
		}
		prev = rate
	}
	if prev > 0.5 {
		t.Errorf("R = 5 audits per epoch still accept %g of the time", prev)
	}
}

// The attack groups intervals exactly as the verifier's default epoch rule does (MNIST,
// B 128, E 2: T 937, k 50; the verifier puts interval 9, steps 450-500, in epoch 0).
func TestVerifierEpochsFollowTheVerifierRule(t *testing.T) {
	got := verifierEpochs(proof.CheckpointSteps(937, 50), 128, 60000)
	if len(got) != 2 || got[0] != (epochGroup{0, 10}) || got[1] != (epochGroup{10, 19}) {
		t.Errorf("groups %+v, want [{0 10} {10 19}]", got)
	}
}

// Blindfold against a seed commitment: from the committed seed's honest W0, over the
// committed batch schedule, the proof keeps the commitment (the naive one breaks its W0) and
// top-Q with Q <= q still accepts; the line is longer, so the attack raises E until the gaps
// fit and pays for more genuine steps.
func TestCommittedInitKeepsTheCommitmentAtAHigherCost(t *testing.T) {
	tg := honestTarget(t, autodiff.Float32, proof.Hyper{LR: 0.05})
	delta := testDelta(t, tg, 1)
	b := attacktest.L2Budget(t, delta)
	cfg := Config{Epochs: 3, Q: 1, K: 4, Budget: b, Seed: 1}
	naive, pn := forge(t, tg, cfg)
	cfg.Init = attacks.InitCommitted
	committed, pc := forge(t, tg, cfg)

	if w0OK, tabOK := attacktest.Commitment(t, pn); w0OK || !tabOK {
		t.Errorf("naive forgery: W0 commitment %v (want false), batches %v (want true)", w0OK, tabOK)
	}
	if w0OK, tabOK := attacktest.Commitment(t, pc); !w0OK || !tabOK {
		t.Errorf("committed forgery breaks its commitment (W0 %v, batches %v)", w0OK, tabOK)
	}
	ev := gatherAll(t, pc, "exact", verifier.HparamsTrustCheckpoint)
	if v := policy(delta, 1, 0, 1).Decide(ev); !v.Accepted {
		t.Fatalf("committed forgery rejected at Q = q: %s %s", v.Check, v.Reason)
	}
	if committed.Notes["epochs_raised"] == "" || committed.VerifierEpochs <= naive.VerifierEpochs {
		t.Fatalf("epochs: naive %d, committed %d (notes %v)", naive.VerifierEpochs, committed.VerifierEpochs, committed.Notes)
	}
	if !(committed.GenuineSteps > naive.GenuineSteps && committed.Cost.FLOPs > 2*naive.Cost.FLOPs) {
		t.Fatalf("genuine steps naive %d, committed %d; FLOPs %g, %g", naive.GenuineSteps, committed.GenuineSteps, naive.Cost.FLOPs, committed.Cost.FLOPs)
	}
	t.Logf("d0 naive %.4g, committed %.4g; epochs %d -> %d; genuine steps %d -> %d; FLOPs x%.3g; steps %d -> %d (honest T %d)",
		naive.D0, committed.D0, naive.VerifierEpochs, committed.VerifierEpochs, naive.GenuineSteps, committed.GenuineSteps,
		committed.Cost.FLOPs/naive.Cost.FLOPs, naive.Steps, committed.Steps, tg.Manifest.Steps)
}
