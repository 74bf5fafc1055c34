package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
)

func TestInspectReportsTheProof(t *testing.T) {
	dir := t.TempDir()
	cfg := prover.Config{
		Model: "mlp:16-8-4:relu", Dataset: "synthetic:n=256,test=64,dim=16,classes=4,seed=5",
		DType: autodiff.Float32, Hyper: proof.Hyper{LR: 0.1, Momentum: 0.5, Milestones: []int{10}, Gamma: 0.5},
		Batch: 32, Epochs: 2, K: 6, Seed: 2,
	}
	res, err := prover.Train(context.Background(), cfg, dir, prover.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, out := captureRun(t, "inspect", dir, "--json")
	if code != exitOK {
		t.Fatalf("inspect exited %d", code)
	}
	var rep inspectReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	if rep.Steps != 16 || rep.Checkpoints != 4 || len(rep.Intervals) != 3 || rep.Params != 16*8+8+8*4+4 {
		t.Errorf("steps %d checkpoints %d intervals %d params %d, want 16, 4 (0,6,12,16), 3, 172", rep.Steps, rep.Checkpoints, len(rep.Intervals), rep.Params)
	}
	if rep.TestAccuracy == nil || math.Abs(*rep.TestAccuracy-res.TestAccuracy) > 1e-6 {
		t.Errorf("test accuracy %v, want %v", rep.TestAccuracy, res.TestAccuracy)
	}
	if rep.Ledger == nil || rep.Ledger.Backward != 16 {
		t.Errorf("ledger %+v, want 16 backward passes", rep.Ledger)
	}
	var size int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			size += info.Size()
		}
		return err
	})
	if rep.Bytes != size || size == 0 {
		t.Errorf("bytes on disk %d, want %d", rep.Bytes, size)
	}
	p := prooftest.OpenAll(t, dir)
	for i, iv := range rep.Intervals {
		a, _ := p.Checkpoint(i)
		b, _ := p.Checkpoint(i + 1)
		want := stats.Distance(a.Params, b.Params)
		if iv.Update != want || iv.From != a.Step || iv.To != b.Step || iv.LR != a.LR {
			t.Errorf("interval %d: %+v, want %d-%d lr %v %+v", i, iv, a.Step, b.Step, a.LR, want)
		}
		if want.L2 == 0 {
			t.Errorf("interval %d did not move", i)
		}
	}

	code, out = captureRun(t, "inspect", dir)
	if code != exitOK || !strings.Contains(out, "steps 16, k 6, 4 checkpoints") || !strings.Contains(out, "12-16") {
		t.Errorf("human output (exit %d):\n%s", code, out)
	}

	// A tampered checkpoint is bad input, not a crash.
	ck := filepath.Join(dir, proof.CheckpointName(6))
	b, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x40
	if err := os.WriteFile(ck, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := captureRun(t, "inspect", dir); code != exitBadInput {
		t.Errorf("inspect of a tampered proof exited %d, want 2", code)
	}
}
