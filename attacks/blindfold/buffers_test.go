package blindfold

import (
	"slices"
	"testing"

	"pollab/internal/attacktest"
	"pollab/stats"
	"pollab/verifier"
)

// On a model with BatchNorm buffers: the genuine intervals train the running statistics and
// are re-executed bit for bit, buffers included; the interpolated ones (tiny lr, measured: no
// analytic bound through BatchNorm) carry buffers on the line to W_T's; the real verifier
// accepts at Q <= q.
func TestBatchNormTarget(t *testing.T) {
	tg := attacktest.BNTarget(t)
	delta := 2 * testDelta(t, tg, 1)
	b := attacktest.L2Budget(t, delta)
	for _, interp := range []string{InterpTiny, InterpGenuine} {
		t.Run(interp, func(t *testing.T) {
			rep, p := forge(t, tg, Config{Epochs: 4, Q: 1, K: 2, Budget: b, Seed: 1, InterpLR: interp})
			last, err := p.Checkpoint(p.NumCheckpoints() - 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(last.Buffers, tg.Buffers) || !slices.Equal(last.Params, tg.Final) {
				t.Error("the last checkpoint is not W_T with its buffers")
			}
			ev := gatherAll(t, p, "exact", verifier.HparamsTrustCheckpoint)
			genuine := map[int]bool{}
			for _, i := range rep.GenuineIntervals {
				genuine[i] = true
				r := ev.Intervals[i].Repro[verifier.HparamsTrustCheckpoint]
				if r.Raw != (stats.Distances{}) || r.Buffers == nil || *r.Buffers != (stats.Distances{}) {
					t.Errorf("genuine interval %d: re-execution %+v, buffers %+v: want bit-identical", i, r.Raw, r.Buffers)
				}
			}
			if acc := acceptRate(ev, delta, 1, 0, 1); acc != 1 {
				t.Errorf("rejected at Q = q = 1")
			}
			var moved float64
			for _, iv := range ev.Intervals {
				if !genuine[iv.Index] {
					moved = max(moved, iv.Repro[verifier.HparamsTrustCheckpoint].Buffers.L2)
				}
			}
			t.Logf("%s: %d genuine of %d intervals, interpolated intervals' largest buffer l2 %.3g", interp, len(rep.GenuineIntervals), len(ev.Intervals), moved)
		})
	}
}
