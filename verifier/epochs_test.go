package verifier

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"pollab/internal/pynumpy"
	"pollab/proof"
	"pollab/stats"
)

// MNIST at batch 128 for 2 epochs: T = floor(2·60000/128) = 937 steps, k = 50 gives 19
// intervals (the last one 37 steps).
const mnistN, mnistB, mnistE, mnistT, mnistK = 60000, 128, 2, 937, 50

func TestEpochRulesOnMNIST(t *testing.T) {
	ckpts := proof.CheckpointSteps(mnistT, mnistK)
	start := stats.IntervalEpochs(stats.EpochRuleStart, ckpts, mnistB, mnistN, mnistE)
	vpy := stats.IntervalEpochs(stats.EpochRuleVerifyPy, ckpts, mnistB, mnistN, mnistE)
	// Start rule: interval i starts at 50i, epoch floor(50i·128/60000): i <= 9 -> 0 (9: 0.96).
	wantStart := []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	// verify.py: c = 937/2/50 = 9.37; epoch 0 = [0, 9), epoch 1 = [9, round(18.74) = 19).
	wantVPy := []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	if !slices.Equal(start, wantStart) {
		t.Errorf("start rule: %v, want %v", start, wantStart)
	}
	if !slices.Equal(vpy, wantVPy) {
		t.Errorf("verify.py rule: %v, want %v", vpy, wantVPy)
	}
	var differ []int
	for i := range start {
		if start[i] != vpy[i] {
			differ = append(differ, i)
		}
	}
	if !slices.Equal(differ, []int{9}) {
		t.Errorf("rules differ at intervals %v, want [9]", differ)
	}
}

func TestEpochRuleVerifyPyEdges(t *testing.T) {
	for _, c := range []struct {
		name              string
		steps, k, e, b, n int
		want              []int
	}{
		// c = 10/2/2 = 2.5: round half to even gives 2 (round half up would give 3).
		{"half to even", 10, 2, 2, 1, 5, []int{0, 0, 1, 1, 1}},
		// c = 1000/1/300 = 3.33: epoch 0 = [0, 3); the short last interval is in no epoch.
		{"short tail outside", 1000, 300, 1, 1, 1000, []int{0, 0, 0, -1}},
		// c = 1000/1/400 = 2.5 -> round 2 of 3 intervals.
		{"tail at one half", 1000, 400, 1, 1, 1000, []int{0, 0, -1}},
		// c = 0.4: epoch 0 = [0, 0) is empty, epoch 1 = [0, 1), epoch 2 = [1, 1) empty...
		{"fewer intervals than epochs", 4, 2, 5, 1, 1, []int{1, 3}},
		{"no epochs", 10, 2, 0, 1, 5, []int{-1, -1, -1, -1, -1}},
	} {
		got := stats.IntervalEpochs(stats.EpochRuleVerifyPy, proof.CheckpointSteps(c.steps, c.k), c.b, c.n, c.e)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if got := stats.IntervalEpochs("nope", []int{0, 5, 10}, 1, 5, 2); !slices.Equal(got, []int{-1, -1}) {
		t.Errorf("unknown rule: %v", got)
	}
	if got := stats.IntervalEpochs(stats.EpochRuleStart, []int{0}, 1, 5, 2); len(got) != 0 {
		t.Errorf("one checkpoint: %v", got)
	}
}

// TestEpochRuleVerifyPyMatchesNumpy runs verify.py's own arithmetic (ckpt_per_epoch =
// T/epochs/save_freq; range(np.round(c·e).__int__(), np.round(c·(e+1)).__int__())) in
// numpy over a grid of shapes and compares every interval's epoch.
func TestEpochRuleVerifyPyMatchesNumpy(t *testing.T) {
	py := pynumpy.Require(t)
	type shape struct{ T, K, E int }
	var shapes []shape
	for _, T := range []int{1, 7, 10, 99, 100, 937, 1000, 1875, 4687} {
		for _, k := range []int{1, 2, 3, 7, 10, 50, 100, 300, 400} {
			for _, e := range []int{1, 2, 3, 5, 7, 20} {
				if k <= T {
					shapes = append(shapes, shape{T, k, e})
				}
			}
		}
	}
	in, _ := json.Marshal(shapes)
	script := `
import json, sys
import numpy as np
out = []
for s in json.loads(sys.argv[1]):
    T, k, E = s["T"], s["K"], s["E"]
    n = (T + k - 1) // k
    ep = [-1] * n
    ckpt_per_epoch = T / E / k
    for epoch in range(E):
        start = np.round(ckpt_per_epoch * epoch).__int__()
        end = np.round(ckpt_per_epoch * (epoch + 1)).__int__()
        for i in range(start, end):
            if i < n:
                ep[i] = epoch
    out.append(ep)
print(json.dumps(out))
`
	raw, err := exec.Command(py, "-c", script, string(in)).Output()
	if err != nil {
		t.Fatalf("numpy reference: %v", err)
	}
	var want [][]int
	if err := json.Unmarshal(raw, &want); err != nil || len(want) != len(shapes) {
		t.Fatalf("numpy reference output: %v (%d rows for %d shapes): %s", err, len(want), len(shapes), strings.TrimSpace(string(raw)))
	}
	differ := 0
	for i, s := range shapes {
		ckpts := proof.CheckpointSteps(s.T, s.K)
		got := stats.IntervalEpochs(stats.EpochRuleVerifyPy, ckpts, 1, 1, s.E)
		if !slices.Equal(got, want[i]) {
			t.Errorf("T %d k %d E %d: %v, numpy %v", s.T, s.K, s.E, got, want[i])
		}
		if !slices.Equal(got, stats.IntervalEpochs(stats.EpochRuleStart, ckpts, 1, 1, s.E)) {
			differ++
		}
	}
	if differ == 0 {
		t.Errorf("the grid never separates the two rules")
	}
}

// mnistEvidence is Evidence of the MNIST shape above with interval 9 the largest update.
func mnistEvidence() *Evidence {
	ckpts := proof.CheckpointSteps(mnistT, mnistK)
	ev := &Evidence{Manifest: "ab12", DatasetSize: mnistN, Batch: mnistB, Steps: mnistT, Epochs: mnistE, K: mnistK,
		StepsPerEpoch: float64(mnistN) / mnistB, AuditNonce: 1,
		Init:    InitFinding{Checked: true, MinP: 0.5},
		Data:    DataFinding{Checked: true, FingerprintOK: true, FirstBadStep: -1},
		Hparams: HparamsFinding{Checked: true, FirstMismatch: -1}}
	epochs := stats.IntervalEpochs(stats.EpochRuleStart, ckpts, mnistB, mnistN, mnistE)
	for i := 0; i+1 < len(ckpts); i++ {
		u := float64(i%5) + 1
		if i == 9 {
			u = 100
		}
		ev.Intervals = append(ev.Intervals, Interval{Index: i, Start: ckpts[i], End: ckpts[i+1], Epoch: epochs[i],
			Update: stats.Distances{L1: u, L2: u, Linf: u, Cos: u}})
	}
	return ev
}

func TestPolicyEpochRuleChangesTopQ(t *testing.T) {
	ev := mnistEvidence()
	p := flat{Q: 1, Metrics: []string{"l2"}}
	// Start rule: 9 tops epoch 0; epoch 1 (10..18) is topped by 14 (update 5).
	if got := p.Needed(ev); !slices.Equal(got, []int{9, 14}) {
		t.Errorf("start rule top-1: %v, want [9 14]", got)
	}
	p.EpochRule = stats.EpochRuleVerifyPy
	// verify.py: epoch 0 = 0..8 (largest 5 at 4), epoch 1 = 9..18 (9).
	if got := p.Needed(ev); !slices.Equal(got, []int{4, 9}) {
		t.Errorf("verify.py rule top-1: %v, want [4 9]", got)
	}
	ev.Epochs = 0
	if v := p.Decide(ev); v.Check != CheckIncomplete || !strings.Contains(v.Reason, "epochs") {
		t.Errorf("verify.py rule without epochs: %+v", v)
	}
	if err := (flat{EpochRule: "round"}).Validate(); err == nil {
		t.Errorf("unknown epoch rule accepted")
	}
	for _, s := range []string{"", "start", "verify.py"} {
		if _, err := stats.ParseEpochRule(s); err != nil {
			t.Errorf("ParseEpochRule(%q): %v", s, err)
		}
	}
}

// A trailing interval outside verify.py's epochs is neither ranked nor audited.
func TestVerifyPyTailNotSelected(t *testing.T) {
	ckpts := proof.CheckpointSteps(1000, 300)
	ev := &Evidence{DatasetSize: 1000, Batch: 1, Steps: 1000, Epochs: 1, K: 300}
	for i := 0; i+1 < len(ckpts); i++ {
		ev.Intervals = append(ev.Intervals, Interval{Index: i, Start: ckpts[i], End: ckpts[i+1],
			Update: stats.Distances{L1: float64(i), L2: float64(i), Linf: float64(i), Cos: float64(i)}})
	}
	p := flat{Q: 1, Audit: 5, AuditSeed: 7, EpochRule: stats.EpochRuleVerifyPy}
	if got := p.Needed(ev); slices.Contains(got, 3) || !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("needed %v, want [0 1 2] without the tail interval 3", got)
	}
	p.EpochRule = stats.EpochRuleStart
	if got := p.Needed(ev); !slices.Contains(got, 3) {
		t.Errorf("start rule needed %v: the tail interval 3 (largest update) is missing", got)
	}
}
