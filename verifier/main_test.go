package verifier

import (
	"os"
	"sync"
	"testing"
)

var (
	sharedDirOnce sync.Once
	sharedDir     string
)

// sharedTempDir is a temp directory that lives for the whole test binary (removed by
// TestMain), for proofs that several tests share.
func sharedTempDir(t testing.TB) string {
	sharedDirOnce.Do(func() {
		d, err := os.MkdirTemp("", "pollab-verifier-test-")
		if err != nil {
			t.Fatal(err)
		}
		sharedDir = d
	})
	return sharedDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}
