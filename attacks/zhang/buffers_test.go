package zhang

import (
	"slices"
	"testing"

	"pollab/internal/attacktest"
	"pollab/internal/prooftest"
	"pollab/stats"
	"pollab/verifier"
)

// On a model with BatchNorm buffers, with symbolic second order and central differences:
// W'0 carries W_T's running statistics, crafting never changes them, the replay trains them,
// and every checkpoint stores the replay's buffers, so the real verifier's re-execution
// reproduces them bit for bit and measures the attack's own replay distances.
func TestBatchNormTarget(t *testing.T) {
	tg := attacktest.BNTarget(t)
	all := verifier.DefaultPolicy()
	all.Select.Q = 0
	for _, so := range []string{"symbolic", "central"} {
		t.Run(so, func(t *testing.T) {
			cfg := Config{Variant: VariantII, Lambda: -1, Steps: 8, K: 4, Retries: 1, Iters: 3, Seed: 4, SecondOrder: so}
			rep, out := forge(t, tg, cfg)
			p := prooftest.OpenAll(t, out)
			c0, err := p.Checkpoint(0)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c0.Buffers, tg.Buffers) {
				t.Errorf("W'0 buffers %v, want W_T's %v", c0.Buffers, tg.Buffers)
			}
			ev, verdicts := verifyForged(t, out, []verifier.Policy{all})
			if !(ev.Init.MinP >= 0.01) || !ev.Data.OK() {
				t.Fatalf("init p %.3g, data %+v", ev.Init.MinP, ev.Data)
			}
			for i, iv := range ev.Intervals {
				r := iv.Repro[verifier.HparamsTrustCheckpoint]
				if r.Raw != rep.Intervals[i].Replay || r.Buffers == nil || *r.Buffers != (stats.Distances{}) {
					t.Errorf("interval %d: verifier %v (buffers %v), attack replay %v", i, r.Raw, r.Buffers, rep.Intervals[i].Replay)
				}
			}
			t.Logf("%s: verdict on every interval at the reference deltas: %s; max replay %v", so, verdictWord(verdicts[0]), rep.MaxReplay)
		})
	}
}
