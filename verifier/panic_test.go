package verifier

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pollab/proof"
)

// A panic inside a re-execution worker (here from the Progress callback, which runs on the
// worker goroutine) must come back as Gather's error, not kill the process: the CLI's
// last-resort guard only sees panics of the main goroutine.
func TestWorkerPanicIsAnError(t *testing.T) {
	dir := honestProof(t)
	nonce := uint64(1)
	for _, workers := range []int{1, 2} {
		opt := Options{Workers: workers, AuditNonce: &nonce, Progress: func(done, total int, note string) {
			if note == "re-executing" {
				panic("boom\nin a worker")
			}
		}}
		ev, err := Gather(context.Background(), open(t, dir), Env{}, policies(exactPolicy(1)), opt)
		if err == nil || ev != nil {
			t.Fatalf("workers %d: Gather returned %v, %v; want the panic as an error", workers, ev, err)
		}
		if !strings.Contains(err.Error(), "internal error: boom") || !strings.Contains(err.Error(), "re-executing interval") {
			t.Errorf("workers %d: error %q", workers, err)
		}
	}
}

// The manifest is hashed by path after proof.Open read it; a FIFO swapped in must be an
// error, not a verifier blocked forever in open(2).
func TestManifestHashRefusesAFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, proof.ManifestFile), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() { _, err := manifestSHA256(dir); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("manifestSHA256 of a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("manifestSHA256 blocked on a FIFO")
	}
}
