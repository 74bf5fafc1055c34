package main

import (
	"os/exec"
	"syscall"
	"testing"
)

// peakRSS runs the binary to completion and returns its exit code and peak resident set size
// in bytes (getrusage's ru_maxrss, which Linux reports in KiB).
func peakRSS(t *testing.T, bin string, args ...string) (int, int64) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if code != exitOK {
		t.Fatalf("%v: exit %d\n%s", args, code, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no rusage on this platform")
	}
	return code, ru.Maxrss * 1024
}

// TestVerifyPeakRSSIndependentOfCheckpoints: pollab verify streams the checkpoints (at most two
// held while scanning, one state per worker while re-executing), so its peak memory is
// O(model x workers) and a proof of 1,000 checkpoints needs at most 1.5x the memory of one of
// 10. Holding every checkpoint (parameters and momentum, as float64) would add about 38 MB to
// a base of about 25 MB.
func TestVerifyPeakRSSIndependentOfCheckpoints(t *testing.T) {
	bin := pollabBinary(t)
	rss := func(epochs int) int64 {
		dir := longProof(t, epochs)
		best := int64(-1)
		for range 2 { // the smaller of two runs: RSS depends a little on when the GC ran
			_, r := peakRSS(t, bin, "verify", dir, "--q", "1", "--workers", "1", "--quiet")
			if best < 0 || r < best {
				best = r
			}
		}
		return best
	}
	few, many := rss(1), rss(111) // 10 and 1,000 checkpoints
	t.Logf("peak RSS of pollab verify --q 1: %.1f MB for 10 checkpoints, %.1f MB for 1,000 (x%.2f)", float64(few)/1e6, float64(many)/1e6, float64(many)/float64(few))
	if float64(many) > 1.5*float64(few) {
		t.Errorf("peak RSS grows with the number of checkpoints: %d bytes for 1,000, %d for 10 (more than 1.5x)", many, few)
	}
}
