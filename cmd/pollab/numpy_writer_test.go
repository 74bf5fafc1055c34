package main

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pollab/internal/prooftest"
	"pollab/internal/pynumpy"
	"pollab/proof"
)

// TestNumpyWriterProofVerifies runs the independent writer python/numpy_writer/pol_writer.py
// (numpy only, written from docs/FORMAT.md: its own synthetic-data generator, hand-written
// backprop, safetensors and table encoders) and verifies its proof: every interval
// re-executed, accepted at delta 1e-9 under enforce-manifest with membership on. A tampered
// copy (one weight changed and re-signed; a checkpoint lr changed and re-signed) is rejected.
func TestNumpyWriterProofVerifies(t *testing.T) {
	py := pynumpy.Require(t)
	dir := filepath.Join(t.TempDir(), "numpy-proof")
	if out, err := exec.Command(py, filepath.Join("..", "..", "python", "numpy_writer", "pol_writer.py"), dir).CombinedOutput(); err != nil {
		t.Fatalf("pol_writer.py: %v\n%s", err, out)
	}
	bin := pollabBinary(t)
	verify := []string{"verify", dir, "--q", "0", "--delta", "1e-9", "--hparams", "enforce-manifest", "--membership", "--workers", "1", "--quiet"}
	r := newSandbox(t, bin, dir).run(verify...)
	checkOneLine(t, verify, r, exitOK)
	if !strings.Contains(r.stdout, "accepted") || !strings.Contains(r.stdout, "4 intervals") {
		t.Errorf("numpy proof: stdout\n%s", r.stdout)
	}

	// One weight of checkpoint 8 moved by 1e-6, re-signed: its interval no longer reproduces.
	moved := prooftest.Copy(t, dir)
	name := proof.CheckpointName(8)
	b, err := os.ReadFile(filepath.Join(moved, name))
	if err != nil {
		t.Fatal(err)
	}
	at := ckptBuffer(b) + 8*5 // the sixth f64 of the buffer
	binary.LittleEndian.PutUint64(b[at:], math.Float64bits(math.Float64frombits(binary.LittleEndian.Uint64(b[at:]))+1e-6))
	prooftest.Resign(t, moved, name, b)
	args := append([]string{"verify", moved}, verify[2:]...)
	msg := checkOneLine(t, args, newSandbox(t, bin, moved).run(args...), exitRejected)
	if !strings.Contains(msg, "topq check failed at interval 1") {
		t.Errorf("moved weight: %q, want interval 1 (steps 4-8) to fail", msg)
	}

	// The lr stored in checkpoint 4 doubled, re-signed: it disagrees with the manifest.
	fast := prooftest.Copy(t, dir)
	name = proof.CheckpointName(4)
	b, err = os.ReadFile(filepath.Join(fast, name))
	if err != nil {
		t.Fatal(err)
	}
	prooftest.Resign(t, fast, name, prooftest.EditHeader(t, b, func(h string) string { return strings.Replace(h, `"lr":"0.1"`, `"lr":"0.2"`, 1) }))
	args = append([]string{"verify", fast}, verify[2:]...)
	msg = checkOneLine(t, args, newSandbox(t, bin, fast).run(args...), exitRejected)
	if !strings.Contains(msg, "hparams check failed") || !strings.Contains(msg, "stored lr 0.2") {
		t.Errorf("doubled lr: %q, want the hparams check to fail", msg)
	}
}
