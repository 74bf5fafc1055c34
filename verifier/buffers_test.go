package verifier

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/internal/bntest"
	"pollab/internal/prooftest"
	"pollab/models"
	"pollab/prover"
	"pollab/stats"
)

// bnConfig is an honest run of a model with BatchNorm buffers: T = 16, k = 4, S = 8.
func bnConfig(dt autodiff.DType) prover.Config {
	c := testConfig(4, 2, dt)
	c.Model, c.Dataset, c.Batch = bntest.Spec, bntest.Dataset, 8
	return c
}

// atDeltaZero verifies the proof in dir in env exact at delta 0, every interval re-executed:
// the evidence and the verdict.
func atDeltaZero(t *testing.T, dir string) (*Evidence, Verdict) {
	t.Helper()
	pol := exactPolicy(0)
	ev := gather(t, dir, "exact", Options{}, pol)
	return ev, pol.Decide(ev)
}

// replaysExactly verifies the honest proof in dir in env exact at delta 0, every interval,
// and requires bit-identical parameters and running statistics.
func replaysExactly(t *testing.T, dir string) *Evidence {
	t.Helper()
	ev, v := atDeltaZero(t, dir)
	if !v.Accepted {
		t.Fatalf("honest proof rejected at delta 0: %+v", v)
	}
	for _, iv := range ev.Intervals {
		r := iv.Repro[HparamsTrustCheckpoint]
		if r == nil || r.Raw != (stats.Distances{}) || r.Buffers == nil || *r.Buffers != (stats.Distances{}) {
			t.Errorf("interval %d: re-execution %+v, want bit-identical parameters and buffers", iv.Index, r)
		}
	}
	return ev
}

// An honest proof of a model with buffers replays at delta 0 in env exact with its running
// statistics bit-exact; the init check tests the conv and linear weights only (BatchNorm
// never, as Jia et al.'s verify.py).
func TestHonestBufferedProofReplaysExactly(t *testing.T) {
	for _, dt := range []autodiff.DType{autodiff.Float32, autodiff.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			ev := replaysExactly(t, prooftest.Train(t, bnConfig(dt)))
			if len(ev.Intervals) != 4 {
				t.Fatalf("%d intervals", len(ev.Intervals))
			}
			if !ev.Init.Checked || ev.Init.Tensors != 3 || ev.Init.MinP < 0.01 {
				t.Errorf("init finding %+v, want the 3 conv/linear weights tested", ev.Init)
			}
		})
	}
}

// Distances and top-Q are over trainable parameters only: running statistics a prover
// claims wrongly show up in the reported buffer distances (of the interval that ends there and
// of the one that starts there) but decide nothing; training-mode steps never read them.
func TestBufferTamperIsReportedNotDecided(t *testing.T) {
	dir := prooftest.Copy(t, prooftest.Train(t, bnConfig(autodiff.Float64)))
	editCheckpoint(t, dir, 2, []string{"bn1.running_mean", "bn2.running_var"}, func(_ string, j int, v float64) float64 { return v + 0.5 })
	ev, v := atDeltaZero(t, dir)
	if !v.Accepted {
		t.Errorf("a buffer change decided the verdict: %+v", v)
	}
	for _, iv := range ev.Intervals {
		r := iv.Repro[HparamsTrustCheckpoint]
		touched := iv.End == 8 || iv.Start == 8
		if r.Raw != (stats.Distances{}) || (r.Buffers.Linf != 0) != touched {
			t.Errorf("interval %d [%d, %d]: parameters %+v, buffers %+v", iv.Index, iv.Start, iv.End, r.Raw, *r.Buffers)
		}
		if iv.End == 8 && math.Abs(r.Buffers.Linf-0.5) > 1e-12 {
			t.Errorf("interval ending at the tampered checkpoint: buffer linf %v, want 0.5", r.Buffers.Linf)
		}
	}
}

// With BatchNorm, micro-batches change the computation itself (each micro-batch normalised by
// its own statistics, PyTorch's gradient accumulation): the microbatch env's honest
// re-execution error is no rounding noise here.
func TestMicrobatchEnvOnBatchNorm(t *testing.T) {
	dir := prooftest.Train(t, bnConfig(autodiff.Float64))
	ev := gather(t, dir, "microbatch:2", Options{}, exactPolicy(0))
	var params, bufs []float64
	for _, iv := range ev.Intervals {
		r := iv.Repro[HparamsTrustCheckpoint]
		params, bufs = append(params, r.Raw.L2/iv.Update.L2), append(bufs, r.Buffers.L2)
	}
	t.Logf("microbatch:2 on bntest: l2 error / update %v, buffer l2 %v", params, bufs)
	if slices.Min(params) < 1e-6 || slices.Min(bufs) == 0 {
		t.Errorf("micro-batches reproduced a BatchNorm step to %v of its update: expected a different computation", slices.Min(params))
	}
}

// ResNet-20 (the lab's model with buffers; 1×8×8 inputs keep it quick) goes through the same
// code: its honest proof replays at delta 0 in env exact, all 19 BatchNorms' running
// statistics bit-exact, and the init check tests its conv and linear weights only.
func TestHonestResNet20ProofReplaysExactly(t *testing.T) {
	cfg := testConfig(4, 1, autodiff.Float32)
	cfg.Model, cfg.Dataset, cfg.Batch = "resnet:20:1x8x8", "synthetic:n=32,test=8,dim=64,classes=10,seed=3", 4
	ev := replaysExactly(t, prooftest.Train(t, cfg))
	if ev.Init.Tensors != 20 || ev.Init.MinP < 0.01 {
		t.Errorf("init finding %+v, want ResNet-20's 19 conv weights and the linear weight tested", ev.Init)
	}
	t.Logf("ResNet-20 1x8x8: %d intervals replayed bit-exactly, init min p %.3g over %d tensors", len(ev.Intervals), ev.Init.MinP, ev.Init.Tensors)
}

// With the seed-commitment check on, running statistics at step 0 that are not the model's
// initial ones reject the proof (a forger starting from the committed W0 cannot bring, say,
// the stolen model's statistics), naming the first buffer that differs; a later checkpoint's
// statistics are left to the re-execution's buffer distances (above).
func TestCommitmentChecksStepZeroBuffers(t *testing.T) {
	honest := prooftest.Train(t, bnConfig(autodiff.Float32))
	m, err := models.Parse(bntest.Spec)
	if err != nil {
		t.Fatal(err)
	}
	const tensor = "bn2.running_var"
	want := -1
	for k, ts := range m.(models.BufferedModel).Buffers() {
		if ts.Name == tensor {
			want = models.BufferOffsets(m)[k] + 1 // the edit below changes element 1
		}
	}
	if want < 0 {
		t.Fatalf("%s has no buffer %s", bntest.Spec, tensor)
	}
	pol := NewPolicy(Selection{}, CommitmentCheck{})
	for _, tc := range []struct {
		checkpoint int // -1: the honest proof as it is
		firstBad   int
	}{{-1, -1}, {0, want}, {2, -1}} {
		dir := honest
		if tc.checkpoint >= 0 {
			dir = prooftest.Copy(t, honest)
			editCheckpoint(t, dir, tc.checkpoint, []string{tensor}, func(_ string, j int, v float64) float64 {
				if j == 1 {
					return v + 0.5
				}
				return v
			})
		}
		ev := gather(t, dir, "exact", Options{}, pol)
		var f CommitmentFinding
		if ok, err := ev.Finding(CheckCommitment, &f); !ok || err != nil {
			t.Fatalf("checkpoint %d edited: no commitment finding (%v)", tc.checkpoint, err)
		}
		v := pol.Decide(ev)
		if f.FirstBadBuffer != tc.firstBad || f.FirstBadParam != -1 || f.FirstBadStep != -1 {
			t.Errorf("checkpoint %d edited: finding %+v, want first bad buffer %d", tc.checkpoint, f, tc.firstBad)
		}
		if wantReject := tc.firstBad >= 0; v.Accepted == wantReject ||
			wantReject && (v.Check != CheckCommitment || !strings.Contains(v.Reason, fmt.Sprintf("step-0 running statistics are not the model's initial ones (buffer %d differs)", want))) {
			t.Errorf("checkpoint %d edited: verdict %+v", tc.checkpoint, v)
		}
	}
}
