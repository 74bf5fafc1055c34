package verifier

import (
	"context"
	"strings"
	"testing"
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
		ev, err := Gather(context.Background(), open(t, dir), Env{}, []Policy{exactPolicy(1)}, opt)
		if err == nil || ev != nil {
			t.Fatalf("workers %d: Gather returned %v, %v; want the panic as an error", workers, ev, err)
		}
		if !strings.Contains(err.Error(), "internal error: boom") || !strings.Contains(err.Error(), "re-executing interval") {
			t.Errorf("workers %d: error %q", workers, err)
		}
	}
}
