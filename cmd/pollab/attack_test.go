package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
)

// TestInfinitesimalAndBlindfoldCLI forges both proofs in-process from a tiny honest proof and
// checks them with pollab verify: accepted where the attack targets the verifier, rejected by
// enforce-manifest, exit 2 on bad flags.
func TestInfinitesimalAndBlindfoldCLI(t *testing.T) {
	cfg := prover.Config{
		Model: "mlp:16-8-4:relu", Dataset: "synthetic:n=256,test=32,dim=16,classes=4,seed=7", DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.1}, Batch: 8, Epochs: 2, K: 8, Seed: 5,
	}
	honest := prooftest.Train(t, cfg)
	tmp := t.TempDir()
	inf := filepath.Join(tmp, "inf")
	code, out := captureRun(t, "attack", "infinitesimal", "--target", honest, "--out", inf, "--delta", "0.05",
		"--steps", "200", "--k", "10", "--json")
	if code != exitOK {
		t.Fatalf("attack infinitesimal: exit %d", code)
	}
	var res attacks.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if res.Cost.Backward != 0 || res.Steps < 200 || res.Out != inf {
		t.Fatalf("result %+v", res)
	}
	if c := verifyExit(t, inf, "--metrics", "l2", "--delta", "l2=0.05", "--q", "0"); c != exitOK {
		t.Errorf("infinitesimal at its delta: exit %d", c)
	}
	if c := verifyExit(t, inf, "--metrics", "l2", "--delta", "l2=0.05", "--q", "0", "--hparams", "enforce-manifest"); c != exitRejected {
		t.Errorf("infinitesimal under enforce-manifest: exit %d, want 1", c)
	}

	bf := filepath.Join(tmp, "bf")
	if c, _ := captureRun(t, "attack", "blindfold", "--target", honest, "--out", bf, "--epochs", "2", "--q", "2", "--k", "2",
		"--delta", "0.3", "--quiet"); c != exitOK {
		t.Fatalf("attack blindfold: exit %d", c)
	}
	if c := verifyExit(t, bf, "--metrics", "l2", "--delta", "l2=0.3", "--q", "2"); c != exitOK {
		t.Errorf("blindfold at Q = q: exit %d", c)
	}

	for _, bad := range [][]string{
		{"attack", "infinitesimal", "--target", honest, "--out", filepath.Join(tmp, "x1")},                 // no delta
		{"attack", "infinitesimal", "--target", honest, "--out", filepath.Join(tmp, "x2"), "--normalized"}, // no d_ref
		{"attack", "infinitesimal", "--target", honest, "--out", filepath.Join(tmp, "x3"), "--delta", "0.1", "--metric", "cos"},
		{"attack", "blindfold", "--target", honest, "--out", filepath.Join(tmp, "x4"), "--delta", "0.1", "--k", "3", "--steps", "10"},
		{"attack", "blindfold", "--target", honest, "--out", filepath.Join(tmp, "x5"), "--delta", "0.1", "--interp-lr", "huge"},
		{"attack", "infinitesimal", "--target", filepath.Join(tmp, "missing"), "--out", filepath.Join(tmp, "x6"), "--delta", "0.1"},
	} {
		if c, _ := captureRun(t, bad...); c != exitBadInput {
			t.Errorf("%v: exit %d, want 2", bad[1:], c)
		}
	}
}
