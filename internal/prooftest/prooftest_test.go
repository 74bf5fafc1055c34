package prooftest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/proof"
	"pollab/prover"
)

// TestResignReachesTheChecksBehindTheHash: a changed checkpoint is caught by its SHA-256
// until Resign re-signs it; then the content checks see it. Copy leaves the source alone.
func TestResignReachesTheChecksBehindTheHash(t *testing.T) {
	src := Train(t, prover.Config{
		Model: "mlp:4-3-2:relu", Dataset: "synthetic:n=32,test=8,dim=4,classes=2,seed=1", DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.1}, Batch: 8, Epochs: 1, K: 2, Seed: 1,
	})
	OpenAll(t, src)
	ck := proof.CheckpointName(2)
	orig, err := os.ReadFile(filepath.Join(src, ck))
	if err != nil {
		t.Fatal(err)
	}
	changed := EditHeader(t, orig, func(h string) string { return strings.Replace(h, `"step":"2"`, `"step":"3"`, 1) })

	unsigned := Copy(t, src)
	if err := os.WriteFile(filepath.Join(unsigned, ck), changed, 0o644); err != nil {
		t.Fatal(err)
	}
	signed := Copy(t, src)
	Resign(t, signed, ck, changed)
	for dir, want := range map[string]string{unsigned: "mismatch", signed: "metadata step 3"} {
		p, err := proof.Open(dir)
		if err == nil {
			_, err = p.Checkpoint(1)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", filepath.Base(filepath.Dir(dir)), err, want)
		}
	}
	if now, _ := os.ReadFile(filepath.Join(src, ck)); !bytes.Equal(now, orig) {
		t.Error("the source proof changed")
	}
	if !Lists(t, src, proof.IndicesFile) || Lists(t, src, proof.ProvenanceFile) {
		t.Error("Lists: indices.bin must be listed, provenance.json not")
	}
}
