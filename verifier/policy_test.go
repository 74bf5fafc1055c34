package verifier

import (
	"slices"
	"testing"

	"pollab/stats"
)

// handEvidence builds the Evidence of a proof with 3 epochs of 5 intervals each whose
// update magnitudes are given, every check passed, and every interval re-executed with
// distance repro[i] in l2 (other metrics 0).
func handEvidence(updates [][]float64, repro []float64) *Evidence {
	ev := &Evidence{
		Manifest: "ab12", DatasetSize: 100, Batch: 10, Steps: 10 * 5 * len(updates), K: 10, StepsPerEpoch: 10,
		Init:       InitFinding{Checked: true, Tensors: 2, MinP: 0.5, Tensor: "fc1.weight"},
		Data:       DataFinding{Checked: true, FingerprintOK: true, FirstBadStep: -1},
		Membership: MembershipFinding{Checked: true, FirstForeignStep: -1},
		Hparams:    HparamsFinding{Checked: true, FirstMismatch: -1},
		AuditNonce: 42,
	}
	i := 0
	for e, row := range updates {
		for _, u := range row {
			iv := Interval{Index: i, Start: 10 * i, End: 10 * (i + 1), Epoch: e,
				Update: stats.Uniform(u)}
			if repro != nil {
				iv.Repro = map[string]*Repro{HparamsTrustCheckpoint: {Raw: stats.Distances{L2: repro[i]}}}
			}
			ev.Intervals = append(ev.Intervals, iv)
			i++
		}
	}
	return ev
}

func TestNeededTopQPerEpoch(t *testing.T) {
	ev := handEvidence([][]float64{
		{1, 5, 3, 2, 4},
		{9, 1, 1, 8, 0},
		{2, 2, 2, 2, 2},
	}, nil)
	p := flat{Q: 2, Metrics: []string{"l2"}}
	got := p.Needed(ev)
	want := []int{1, 4, 5, 8, 10, 11} // epoch 2 ties: lowest indices first
	if !slices.Equal(got, want) {
		t.Errorf("top-2: %v, want %v", got, want)
	}
	// Different metrics rank differently: the union is taken.
	ev.Intervals[0].Update.Cos = 100
	p.Metrics = []string{"l2", "cos"}
	p.Q = 1
	got = p.Needed(ev)
	if !slices.Contains(got, 0) || !slices.Contains(got, 1) || len(got) != 4 {
		t.Errorf("union over l2 and cos: %v, want 0, 1 and one per other epoch", got)
	}
	if all := (flat{Q: 0}).Needed(ev); len(all) != 15 {
		t.Errorf("Q=0 needs %d intervals, want all 15", len(all))
	}
}

func TestAuditsAreFromTheRestAndSeeded(t *testing.T) {
	ev := handEvidence([][]float64{{1, 5, 3, 2, 4}, {9, 1, 1, 8, 0}, {2, 2, 2, 2, 2}}, nil)
	p := flat{Q: 1, Audit: 2, Metrics: []string{"l2"}}
	top, audit := p.Selection(ev)
	if !slices.Equal(top, []int{1, 5, 10}) {
		t.Fatalf("top: %v", top)
	}
	if len(audit) != 6 {
		t.Fatalf("audit: %v, want 2 per epoch", audit)
	}
	perEpoch := map[int]int{}
	for _, a := range audit {
		if slices.Contains(top, a) {
			t.Errorf("audit %d repeats a top-Q interval", a)
		}
		perEpoch[ev.Intervals[a].Epoch]++
	}
	for e := 0; e < 3; e++ {
		if perEpoch[e] != 2 {
			t.Errorf("epoch %d: %d audits", e, perEpoch[e])
		}
	}
	// Same nonce: same draw. An explicit seed overrides the nonce and replays.
	_, again := p.Selection(ev)
	if !slices.Equal(audit, again) {
		t.Errorf("audit draw not reproducible: %v vs %v", audit, again)
	}
	p.AuditSeed = p.AuditSeedFor(ev)
	ev2 := *ev
	ev2.AuditNonce = 7
	if _, replay := p.Selection(&ev2); !slices.Equal(replay, audit) {
		t.Errorf("explicit seed does not replay the draw: %v vs %v", replay, audit)
	}
	// Over many nonces, every non-top interval of an epoch gets audited about equally often.
	p.AuditSeed = 0
	p.Audit = 1
	counts := map[int]int{}
	for n := uint64(0); n < 4000; n++ {
		ev.AuditNonce = n
		_, a := p.Selection(ev)
		for _, i := range a {
			if ev.Intervals[i].Epoch == 0 {
				counts[i]++
			}
		}
	}
	for _, i := range []int{0, 2, 3, 4} {
		if counts[i] < 800 || counts[i] > 1200 {
			t.Errorf("interval %d audited %d/4000 times, want about 1000", i, counts[i])
		}
	}
}

func TestDecideOrderAndThresholds(t *testing.T) {
	repro := make([]float64, 15)
	repro[7] = 0.5
	ev := handEvidence([][]float64{{1, 5, 3, 2, 4}, {9, 1, 1, 8, 0}, {2, 2, 2, 2, 2}}, repro)
	p := flat{Q: 1, Metrics: []string{"l2"}, Delta: stats.Distances{L2: 0.5}}
	if v := p.Decide(ev); !v.Accepted {
		t.Fatalf("distance == delta must pass (fail only if strictly greater): %+v", v)
	}
	p.Q = 0
	p.Delta.L2 = 0.4
	v := p.Decide(ev)
	if v.Accepted || v.Check != CheckTopQ || v.Interval != 7 || v.Step != 70 {
		t.Errorf("want topq rejection at interval 7: %+v", v)
	}
	// Normalised: 0.5 / d_ref 10 = 0.05.
	p.Normalized = true
	if v := p.Decide(ev); v.Check != CheckIncomplete {
		t.Errorf("normalized without d_ref: %+v", v)
	}
	ev.DRef = &stats.Distances{L1: 1, L2: 10, Linf: 1, Cos: 1}
	p.Delta.L2 = 0.05
	if v := p.Decide(ev); !v.Accepted {
		t.Errorf("normalized 0.05 <= 0.05: %+v", v)
	}
	p.Delta.L2 = 0.049
	if v := p.Decide(ev); v.Accepted || v.Interval != 7 {
		t.Errorf("normalized 0.05 > 0.049: %+v", v)
	}
	p.Normalized = false
	p.Delta.L2 = 0.4

	// An audited interval fails as "audit".
	p.Q, p.Audit = 1, 4 // audits every other interval of each epoch
	if v := p.Decide(ev); v.Accepted || v.Check != CheckAudit || v.Interval != 7 {
		t.Errorf("audit failure: %+v", v)
	}
	// A missing re-execution is incomplete, not accepted.
	p.Audit = 0
	p.Delta.L2 = 1
	ev.Intervals[5].Repro = nil
	if v := p.Decide(ev); v.Check != CheckIncomplete || v.Interval != 5 {
		t.Errorf("missing repro: %+v", v)
	}
	ev.Intervals[5].Repro = map[string]*Repro{HparamsTrustCheckpoint: {}}
	// enforce-manifest needs its own re-executions.
	p.Hparams = HparamsEnforceManifest
	if v := p.Decide(ev); v.Check != CheckIncomplete {
		t.Errorf("enforce-manifest without its repro: %+v", v)
	}
	p.Hparams = HparamsTrustCheckpoint

	// NaN distances fail.
	ev.Intervals[5].Repro[HparamsTrustCheckpoint].Raw.L2 = nan()
	if v := p.Decide(ev); v.Accepted || v.Interval != 5 {
		t.Errorf("NaN distance accepted: %+v", v)
	}
	ev.Intervals[5].Repro[HparamsTrustCheckpoint].Raw.L2 = 0

	// Earlier checks win, in order init -> data -> membership -> hparams.
	ev.Hparams = HparamsFinding{Checked: true, FirstMismatch: 3, Step: 30, Reason: "lr"}
	ev.Membership = MembershipFinding{Checked: true, PayloadPoints: 4, Foreign: 2, FirstForeignStep: 12}
	ev.Data = DataFinding{Checked: true, FingerprintOK: true, FirstBadStep: 44, Reason: "batch hash of step 44"}
	ev.Init.MinP = 0.001
	p.Membership = true
	p.Hparams = HparamsEnforceManifest
	for _, want := range []struct {
		check    string
		interval int
		fix      func()
	}{
		{CheckInit, -1, func() { ev.Init.MinP = 0.02 }},
		{CheckData, 4, func() { ev.Data.FirstBadStep = -1 }},
		{CheckMembership, 1, func() { ev.Membership.Foreign = 0 }},
		{CheckHparams, 3, func() { ev.Hparams.FirstMismatch = -1 }},
	} {
		v := p.Decide(ev)
		if v.Accepted || v.Check != want.check || v.Interval != want.interval || v.Reason == "" {
			t.Errorf("want %s at interval %d, got %+v", want.check, want.interval, v)
		}
		want.fix()
	}
	// Membership and hparams findings are ignored by policies that do not ask for them.
	ev.Membership.Foreign = 3
	ev.Hparams.FirstMismatch = 2
	p.Membership = false
	p.Hparams = HparamsTrustCheckpoint
	if v := p.Decide(ev); !v.Accepted {
		t.Errorf("membership/hparams should be off: %+v", v)
	}
	// A negative InitAlpha disables the init check; the default is 0.01.
	ev.Init.MinP = 0.005
	if v := p.Decide(ev); v.Check != CheckInit {
		t.Errorf("default alpha 0.01 should reject p=0.005: %+v", v)
	}
	p.InitAlpha = -1
	if v := p.Decide(ev); !v.Accepted {
		t.Errorf("disabled init check: %+v", v)
	}
}
