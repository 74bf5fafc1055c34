package proof

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO planted in a proof under a name the reader opens by path (manifest.json,
// provenance.json, which holds the ledger) must be refused, not block the reader forever in open(2).
func TestFIFOInTheProofDoesNotBlock(t *testing.T) {
	base := t.TempDir()
	buildProof(t, base, smallFixture, 1)
	for _, name := range []string{ManifestFile, ProvenanceFile} {
		dir := t.TempDir()
		copyDir(t, base, dir)
		os.Remove(filepath.Join(dir, name))
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
			t.Skip("mkfifo:", err)
		}
		done := make(chan error, 1)
		go func() {
			p, err := Open(dir)
			if err == nil {
				if _, ok := p.Cost(); ok {
					err = os.ErrInvalid // a FIFO provenance cannot hold a cost
				}
			}
			done <- err
		}()
		select {
		case err := <-done:
			switch {
			case name == ManifestFile && (err == nil || !strings.Contains(err.Error(), "not a regular file")):
				t.Errorf("FIFO manifest: %v, want a not-a-regular-file error", err)
			case name == ProvenanceFile && err != nil:
				t.Errorf("FIFO provenance (informational, ignored): %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reading a proof with a FIFO %s blocked", name)
		}
	}
}

// The ledger is informational: a provenance.json that is missing, oversized, not JSON or
// without a ledger leaves the proof valid and Cost reporting no cost.
func TestCostIgnoresUnusableProvenance(t *testing.T) {
	base := t.TempDir()
	buildProof(t, base, smallFixture, 1)
	for name, content := range map[string][]byte{
		"missing":     nil,
		"oversized":   append([]byte(`{"ledger":{"forward":1},"notes":"`), append(bytes.Repeat([]byte("x"), maxProvenanceBytes), `"}`...)...),
		"not json":    []byte("{ledger"),
		"no ledger":   []byte(`{"pollab":"x","go":"go1"}`),
		"null ledger": []byte(`{"ledger":null}`),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			path := filepath.Join(dir, ProvenanceFile)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if content != nil {
				if err := os.WriteFile(path, content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := Open(dir)
			if err != nil {
				t.Fatalf("the proof must stay valid: %v", err)
			}
			if c, ok := p.Cost(); ok {
				t.Errorf("Cost %+v from an unusable provenance.json", c)
			}
		})
	}
}
