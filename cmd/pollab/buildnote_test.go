package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
)

// TestBuildNote: a proof records this binary's build in provenance.json and verify says
// nothing about it; a proof of another architecture gets a one-line note that results are
// designed to be identical, one of another engine semantics a note that replay may differ.
func TestBuildNote(t *testing.T) {
	dir := prooftest.Train(t, prover.Config{
		Model: verifyTestModel, Dataset: verifyTestDataset, DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.1, Gamma: 0.1}, Batch: 16, Epochs: 1, K: 4, Seed: 5,
	})
	open := func() *proof.Proof {
		t.Helper()
		p, err := proof.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	prov, ok := open().Provenance()
	if !ok || prov.Build == nil || *prov.Build != autodiff.ThisBuild() {
		t.Fatalf("provenance build %+v, want %+v", prov.Build, autodiff.ThisBuild())
	}
	if n := buildNote(open()); n != "" {
		t.Errorf("own build: note %q", n)
	}
	for _, c := range []struct {
		edit func(*autodiff.Build)
		want string
	}{
		{func(b *autodiff.Build) { b.GOARCH = "arm64-test" }, "designed to be identical"},
		{func(b *autodiff.Build) { b.Semantics = autodiff.Semantics - 1 }, "exact replay may differ"},
	} {
		b := autodiff.ThisBuild()
		c.edit(&b)
		prov.Build = &b
		raw, err := json.Marshal(prov)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, proof.ProvenanceFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		n := buildNote(open())
		if !strings.Contains(n, c.want) || strings.Contains(n, "\n") || !strings.Contains(n, b.String()) {
			t.Errorf("build %s: note %q, want one line naming it and %q", b, n, c.want)
		}
	}
}
