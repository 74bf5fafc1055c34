package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"pollab/attacks/zhang"
)

// TestZhangCLI forges a variant III proof in-process from a tiny honest proof, checks the
// JSON report, verifies it with pollab verify (accepted at the reference thresholds on every
// interval, rejected under --membership), and maps bad flags to exit 2.
func TestZhangCLI(t *testing.T) {
	honest := tanhRun.dir(t)
	tmp := t.TempDir()
	forged := filepath.Join(tmp, "forged")
	code, out := captureRun(t, "attack", "zhang", "--target", honest, "--out", forged, "--variant", "III",
		"--steps", "32", "--k", "4", "--retries", "1", "--attacker-data", "half", "--json")
	if code != exitOK {
		t.Fatalf("attack zhang: exit %d\n%s", code, out)
	}
	var rep zhang.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if rep.Steps != 32 || rep.K != 4 || rep.Variant != "III" || rep.Iters != 10 || rep.Lambda != 0.1 ||
		rep.AttackerData != "half" || rep.SecondOrder != "symbolic" || rep.Cost.SecondOrder == 0 || rep.Out != forged {
		t.Fatalf("report %+v", rep)
	}
	if c := verifyExit(t, forged, "--q", "0"); c != exitOK {
		t.Errorf("reference thresholds, every interval: exit %d, want accepted", c)
	}
	if c := verifyExit(t, forged, "--q", "0", "--membership"); c != exitRejected {
		t.Errorf("--membership: exit %d, want rejected", c)
	}
	for _, bad := range [][]string{
		{"--variant", "IV"},
		{"--variant", "II", "--large-batch"},
		{"--attacker-data", "most"},
		{"--second-order", "exact"},
		{"--retries", "0"},
		{"--steps", "-3"},
	} {
		args := append([]string{"attack", "zhang", "--target", honest, "--out", filepath.Join(tmp, "bad")}, bad...)
		if c, _ := captureRun(t, args...); c != exitBadInput {
			t.Errorf("%v: exit %d, want 2", bad, c)
		}
	}
}
