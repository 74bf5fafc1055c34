package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"pollab/experiments"
)

// TestSweepProgressInterruptResume runs the tiny spec through the real binary with stdout
// and stderr redirected (not a terminal): plain progress lines appear; SIGINT after a seeded
// number of them exits 130 with one line saying the run resumes from its cache; the rerun
// finishes from what was cached, with the same CSV as an uninterrupted run (but cost_wall_s).
func TestSweepProgressInterruptResume(t *testing.T) {
	bin := pollabBinary(t)
	spec, err := filepath.Abs(filepath.Join("..", "..", "experiments", "testdata", "tiny.toml"))
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	// The kill comes once the honest proofs are done (so something is cached), after a seeded
	// number of further progress lines.
	killAfter := rand.New(rand.NewPCG(seed, 19)).IntN(4)
	t.Logf("kill seed %d: SIGINT %d progress lines after the forgeries phase starts", seed, killAfter)
	out, clean := t.TempDir(), t.TempDir()
	env := append(os.Environ(), "POLLAB_PROGRESS_EVERY=20ms")

	cmd := exec.Command(bin, "sweep", "--out", out, spec)
	cmd.Env = env
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(pipe)
	forge, killed := -1, -1
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if forge < 0 && strings.HasPrefix(sc.Text(), "pollab: forgeries:") {
			forge = len(lines) - 1
		}
		if forge >= 0 && killed < 0 && len(lines)-1 == forge+killAfter {
			killed = len(lines)
			t.Logf("SIGINT after %q", sc.Text())
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("interrupted sweep: %v, want exit 130; stderr:\n%s", err, strings.Join(lines, "\n"))
	}
	if killed < 0 {
		t.Fatalf("no forgeries phase line to kill after:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines[:killed] {
		if !strings.HasPrefix(l, "pollab: ") || !strings.Contains(l, "units") && !strings.Contains(l, "all cached") {
			t.Errorf("progress line %q", l)
		}
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "pollab: interrupted (interrupt): rerun the same command to resume") || !strings.Contains(last, filepath.Join(out, "cache")) {
		t.Errorf("last line %q, want the interruption and how to resume", last)
	}

	sweep := func(dir string) experiments.Report {
		c := exec.Command(bin, "sweep", "--json", "--out", dir, spec)
		c.Env = env
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		if err := c.Run(); err != nil {
			t.Fatalf("sweep %s: %v\n%s", dir, err, e.String())
		}
		var rep experiments.Report
		if err := json.Unmarshal(o.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	resumed, full := sweep(out), sweep(clean)
	l, f := resumed.Ledger, full.Ledger
	if l.ProofsCached == 0 || l.TrainedSteps >= f.TrainedSteps {
		t.Errorf("the rerun resumed nothing: %+v (a full run: %+v)", l, f)
	}
	if a, b := csvWithoutWall(t, resumed.CSV), csvWithoutWall(t, full.CSV); !slices.Equal(a, b) {
		t.Errorf("resumed and uninterrupted runs differ (%d vs %d rows)", len(a), len(b))
	}
}

// csvWithoutWall reads a results CSV with the cost_wall_s column (timing) blanked.
func csvWithoutWall(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	wall := slices.Index(recs[0], "cost_wall_s")
	var out []string
	for _, r := range recs {
		if wall >= 0 {
			r[wall] = ""
		}
		out = append(out, strings.Join(r, ","))
	}
	return out
}
