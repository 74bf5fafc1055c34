package infinitesimal

import (
	"slices"
	"strings"
	"testing"

	"pollab/internal/attacktest"
	"pollab/models"
	"pollab/verifier"
)

// On a model with BatchNorm buffers: W'0 copies W_T's BatchNorm parameters and running
// statistics (the reference implementations' init), every checkpoint carries W_T's buffers,
// the lr comes from measured gradients (no analytic bound through BatchNorm), and the real
// verifier accepts the forgery at the delta it targeted, re-executing buffers alongside.
func TestBatchNormTarget(t *testing.T) {
	tg := attacktest.BNTarget(t)
	if slices.Equal(tg.Buffers, models.InitBuffers(tg.Model)) || len(tg.Buffers) != 16 {
		t.Fatalf("target buffers %v: want W_T's trained running statistics", tg.Buffers)
	}
	d0 := attacktest.InitDistance(t, tg, 1)
	delta := d0 / 8
	b := attacktest.L2Budget(t, delta)
	res, p := forge(t, tg, Config{Budget: b, Steps: 32, K: 4, Seed: 1})
	if !strings.HasPrefix(res.Notes["lr_choice"], "measured") {
		t.Errorf("lr choice %q, want the measured fallback", res.Notes["lr_choice"])
	}
	off := models.Offsets(tg.Model)
	for i := range p.NumCheckpoints() {
		c, err := p.Checkpoint(i)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Buffers, tg.Buffers) {
			t.Fatalf("checkpoint %d buffers %v, want W_T's", c.Step, c.Buffers)
		}
		if i > 0 {
			continue
		}
		for ti, ts := range tg.Model.Tensors() {
			if same := slices.Equal(c.Params[off[ti]:off[ti+1]], tg.Final[off[ti]:off[ti+1]]); same == ts.Tested {
				t.Errorf("W'0 tensor %s (tested %v): equal to W_T's = %v", ts.Name, ts.Tested, same)
			}
		}
	}
	pol := l2Policy(delta, 0, verifier.HparamsTrustCheckpoint)
	ev := gather(t, p, "exact", []verifier.Policy{pol})
	if v := pol.Decide(ev); !v.Accepted {
		t.Fatalf("forgery rejected at its delta: %+v", v)
	}
	for _, iv := range ev.Intervals {
		r := iv.Repro[verifier.HparamsTrustCheckpoint]
		if r.Buffers == nil || !(r.Buffers.L2 >= 0) {
			t.Fatalf("interval %d: no buffer distance reported", iv.Index)
		}
	}
	t.Logf("bntest: %d steps, lr %s, interval 0 buffer l2 %.3g", res.Steps, res.Notes["claimed_lr"], ev.Intervals[0].Repro[verifier.HparamsTrustCheckpoint].Buffers.L2)
}
