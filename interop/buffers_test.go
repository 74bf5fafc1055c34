package interop

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/internal/pynumpy"
	"pollab/proof"
	"pollab/prover"
	"pollab/verifier"
)

// bnRun is a ResNet (the PoL reference's, option A, with BatchNorm) small enough for the
// tests: depth 8 on 1×8×8 inputs, momentum, weight decay and a milestone.
var bnRun = prover.Config{Model: "resnet:8:1x8x8", Dataset: "synthetic:n=64,test=16,dim=64,classes=10,seed=3", Batch: 8, Epochs: 1, K: 3, Seed: 1,
	Hyper: proof.Hyper{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, Milestones: []int{4}, Gamma: 0.1}}

// strictLoad loads every checkpoint of a proof, momentum tensors dropped, into pollab_torch's
// module with load_state_dict(strict=True) and prints each one's num_batches_tracked values.
const strictLoad = `
import json, os, sys
import numpy as np, torch
from pollab_torch.models import build_model
from pollab_torch.proofio import decode_safetensors, open_proof
p = open_proof(sys.argv[1])
out = []
for ref in p.checkpoint_refs:
    _, t = decode_safetensors(open(os.path.join(p.path, ref.file), "rb").read(), ref.file)
    sd = {k: torch.from_numpy(np.array(v)) for k, v in t.items() if not k.startswith("momentum.")}
    m = build_model(p.model, torch.float64 if p.dtype == "f64" else torch.float32)
    m.load_state_dict(sd, strict=True)
    out.append(sorted({int(b) for n, b in m.named_buffers() if n.endswith("num_batches_tracked")}))
json.dump(out, sys.stdout)
`

// TestBatchNormProofsCrossVerify: a pollab ResNet proof's checkpoints load into the PyTorch
// module with load_state_dict(strict=True) (momentum tensors aside; num_batches_tracked = the
// step) and re-execute in PyTorch to float64 rounding, running statistics included; a ResNet
// proof recorded in PyTorch (pollab_torch.Recorder, buffers from the module) verifies in
// pollab, every interval, with its running statistics reproduced.
func TestBatchNormProofsCrossVerify(t *testing.T) {
	pynumpy.RequireTorch(t)
	cfg := bnRun
	cfg.DType = autodiff.Float64
	dir := filepath.Join(t.TempDir(), "proof")
	if _, err := prover.Train(context.Background(), cfg, dir, prover.Options{}); err != nil {
		t.Fatal(err)
	}
	out, err := pyRun("-c", strictLoad, dir)
	if err != nil {
		t.Fatalf("strict load: %v", err)
	}
	var tracked [][]int
	if err := json.Unmarshal(out, &tracked); err != nil {
		t.Fatal(err)
	}
	for i, step := range proof.CheckpointSteps(8, cfg.K) {
		if len(tracked[i]) != 1 || tracked[i][0] != step {
			t.Errorf("checkpoint %d: num_batches_tracked %v, want %d", i, tracked[i], step)
		}
	}
	data := exportData(t, cfg.Dataset)
	rows := torchReexec(t, []string{dir}, []string{data})[0]
	for _, r := range rows {
		if !(r.L2 <= 1e-12) || r.Buffers == nil || !(r.Buffers.L2 <= 1e-12) {
			t.Errorf("interval %d [%d, %d]: torch replay l2 %.3g, buffers %+v (want <= 1e-12)", r.Index, r.Start, r.End, r.L2, r.Buffers)
		}
	}
	t.Logf("%s f64 in torch: %d intervals, max l2 %.3g", cfg.Model, len(rows), maxL2(rows))

	var jobs []recordJob
	for _, dt := range []string{"f64", "f32"} {
		jobs = append(jobs, newRecordJob(data, cfg, dt, filepath.Join(t.TempDir(), "rec"+dt), 2))
	}
	record(t, jobs)
	for _, j := range jobs {
		p := prooftest.OpenAll(t, j.Out)
		ev, v := verifyEvery(t, p)
		if !v.Accepted {
			t.Errorf("%s: recorded ResNet proof rejected: %s %s", j.DType, v.Check, v.Reason)
		}
		var worst, worstBuf float64
		for _, iv := range ev.Intervals {
			r := iv.Repro[verifier.HparamsTrustCheckpoint]
			bound := 1e-12
			if j.DType == "f32" {
				bound = f32Band * iv.Update.L2
			}
			if !(r.Raw.L2 <= bound) || r.Buffers == nil {
				t.Errorf("%s interval %d: pollab replay l2 %.3g (want <= %.3g), buffers %v", j.DType, iv.Index, r.Raw.L2, bound, r.Buffers)
				continue
			}
			worst, worstBuf = max(worst, r.Raw.L2/iv.Update.L2), max(worstBuf, r.Buffers.L2)
		}
		if j.DType == "f64" && !(worstBuf <= 1e-12) {
			t.Errorf("f64: running statistics replayed to l2 %.3g, want <= 1e-12", worstBuf)
		}
		t.Logf("%s recorded in torch, verified in pollab: max replay l2 / update %.3g, max buffer l2 %.3g", j.DType, worst, worstBuf)
	}
}
