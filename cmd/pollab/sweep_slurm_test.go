package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pollab/experiments"
)

func tinySpec(t *testing.T) string {
	p, err := filepath.Abs(filepath.Join("..", "..", "experiments", "testdata", "tiny.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Without sbatch on PATH, sweep --slurm is one line and exit 2, and writes nothing.
func TestSweepSlurmWithoutSbatch(t *testing.T) {
	s := newSandbox(t, pollabBinary(t))
	s.env = []string{"PATH=" + t.TempDir()}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"sweep", tinySpec(t), "--slurm", "--out", out}
	msg := checkOneLine(t, args, s.run(args...), exitBadInput)
	if !strings.Contains(msg, "sbatch not on PATH") {
		t.Errorf("message %q does not name sbatch", msg)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("sweep --slurm without sbatch created %s", out)
	}
}

// plan prints the tiny spec's stages and writes nothing; after one array task's script ran
// (as Slurm would run it), the plan shows that job done.
func TestPlanAndEmittedScripts(t *testing.T) {
	bin := pollabBinary(t)
	out := filepath.Join(t.TempDir(), "out")
	planOf := func() experiments.Plan {
		t.Helper()
		b, err := exec.Command(bin, "plan", tinySpec(t), "--out", out, "--json").Output()
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		var p experiments.Plan
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := planOf()
	if len(p.Stages) != len(experiments.Stages) || len(p.Stages[0].Jobs) != 4 || len(p.Stages[0].Missing()) != 4 {
		t.Fatalf("plan of tiny: %+v", p.Stages)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("plan created %s", out)
	}

	// --emit-only needs no Slurm.
	b, err := exec.Command(bin, "sweep", tinySpec(t), "--emit-only", "--out", out, "--partition", "p1", "--max-parallel", "3").CombinedOutput()
	if err != nil {
		t.Fatalf("emit-only: %v\n%s", err, b)
	}
	// (slurm's tests run submit.sh with a fake sbatch.)
	if _, err := os.Stat(filepath.Join(out, "slurm", "submit.sh")); err != nil {
		t.Fatal(err)
	}
	honest, err := os.ReadFile(filepath.Join(out, "slurm", "honest.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"#SBATCH --partition=p1", "#SBATCH --output=" + filepath.Join(out, "slurm", "logs", "honest-%A_%a.log"), "job run --stage honest"} {
		if !strings.Contains(string(honest), w) {
			t.Errorf("honest.sh lacks %q:\n%s", w, honest)
		}
	}
	// The script run as array task 2 runs honest job 2, and nothing else.
	run := exec.Command("sh", filepath.Join(out, "slurm", "honest.sh"))
	run.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=2")
	if b, err := run.CombinedOutput(); err != nil || !strings.Contains(string(b), "job honest 2 of tiny: done") {
		t.Fatalf("honest.sh as task 2: %v\n%s", err, b)
	}
	p = planOf()
	if m := p.Stages[0].Missing(); len(m) != 3 || m[0] != 0 || m[1] != 1 || m[2] != 3 {
		t.Fatalf("after task 2, honest jobs missing: %v", m)
	}
}

// job run refuses bad stages, indices and a spec whose hash differs from the submitted one.
func TestJobRunBadInput(t *testing.T) {
	s := newSandbox(t, pollabBinary(t))
	out := t.TempDir()
	for _, args := range [][]string{
		{"job", "run", "--stage", "nope", "--index", "0", "--out", out, tinySpec(t)},
		{"job", "run", "--stage", "honest", "--out", out, tinySpec(t)},
		{"job", "run", "--stage", "honest", "--index", "99", "--out", out, tinySpec(t)},
		{"job", "run", "--stage", "honest", "--index", "0", "--spec-hash", "abc", "--out", out, tinySpec(t)},
		{"job", "run", "--stage", "verify", "--index", "0", "--out", out, tinySpec(t)}, // inputs missing
		{"plan", "--gflops", "0", tinySpec(t)},
		{"sweep", "--partition", "p1", "--out", out, tinySpec(t)}, // a Slurm option without --slurm
	} {
		checkOneLine(t, args, s.run(args...), exitBadInput)
	}
}
