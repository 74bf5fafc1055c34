package proof

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO planted in a proof under a name the reader opens by path (manifest.json,
// ledger.json) must be refused, not block the reader forever in open(2).
func TestFIFOInTheProofDoesNotBlock(t *testing.T) {
	base := t.TempDir()
	buildProof(t, base, smallFixture, 1)
	for _, name := range []string{ManifestFile, LedgerFile} {
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
					err = os.ErrInvalid // a FIFO ledger cannot hold a cost
				}
			}
			done <- err
		}()
		select {
		case err := <-done:
			switch {
			case name == ManifestFile && (err == nil || !strings.Contains(err.Error(), "not a regular file")):
				t.Errorf("FIFO manifest: %v, want a not-a-regular-file error", err)
			case name == LedgerFile && err != nil:
				t.Errorf("FIFO ledger (informational, ignored): %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reading a proof with a FIFO %s blocked", name)
		}
	}
}
