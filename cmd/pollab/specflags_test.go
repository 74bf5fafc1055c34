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

// The spec flags reach plan, the emitted Slurm scripts and the workers: a worker started by
// the script loads the same overridden spec (its hash is checked), and one started without
// the overrides refuses.
func TestSpecFlagsReachTheSlurmWorkers(t *testing.T) {
	bin := pollabBinary(t)
	out := filepath.Join(t.TempDir(), "out")
	overrides := []string{"--epochs", "2", "--set", "verify.q=[1, 0]", "--set", "attack.blindfold.delta=[0.5]"}
	planHash := func(extra ...string) experiments.Plan {
		t.Helper()
		b, err := exec.Command(bin, append([]string{"plan", tinySpec(t), "--out", out, "--json"}, extra...)...).Output()
		if err != nil {
			t.Fatalf("plan %v: %v", extra, err)
		}
		var p experiments.Plan
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain, over := planHash(), planHash(overrides...)
	if plain.SpecHash == over.SpecHash {
		t.Fatal("the overrides did not change the spec hash")
	}
	if b, err := exec.Command(bin, append([]string{"sweep", tinySpec(t), "--emit-only", "--out", out}, overrides...)...).CombinedOutput(); err != nil {
		t.Fatalf("emit-only: %v\n%s", err, b)
	}
	script, err := os.ReadFile(filepath.Join(out, "slurm", "honest.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "--spec-hash "+over.SpecHash+" --epochs 2 --set 'verify.q=[1, 0]' --set 'attack.blindfold.delta=[0.5]' ") {
		t.Fatalf("honest.sh does not pass the overrides:\n%s", script)
	}
	run := exec.Command("sh", filepath.Join(out, "slurm", "honest.sh"))
	run.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=0")
	if b, err := run.CombinedOutput(); err != nil || !strings.Contains(string(b), "job honest 0 of tiny: done") {
		t.Fatalf("honest.sh as task 0: %v\n%s", err, b)
	}
	if m := planHash(overrides...).Stages[0].Missing(); len(m) != len(over.Stages[0].Jobs)-1 {
		t.Errorf("after task 0, honest jobs missing: %v of %d", m, len(over.Stages[0].Jobs))
	}
	// The 2-epoch proof: 96 points, batch 16, two epochs = 12 steps.
	proofs, _ := filepath.Glob(filepath.Join(out, "cache", "proofs", "honest-*", "manifest.json"))
	if len(proofs) != 1 {
		t.Fatalf("proofs after task 0: %v", proofs)
	}
	var m struct {
		Steps int `json:"steps"`
	}
	if b, err := os.ReadFile(proofs[0]); err != nil || json.Unmarshal(b, &m) != nil || m.Steps != 12 {
		t.Errorf("honest proof: %d steps (err %v), want 12", m.Steps, err)
	}
	s := newSandbox(t, bin)
	args := []string{"job", "run", "--stage", "honest", "--index", "1", "--out", out, "--spec-hash", over.SpecHash, tinySpec(t)}
	if msg := checkOneLine(t, args, s.run(args...), exitBadInput); !strings.Contains(msg, "was the spec edited") {
		t.Errorf("a worker without the overrides: %q", msg)
	}
	for _, bad := range [][]string{
		{"sweep", tinySpec(t), "--seeds", "1"},
		{"sweep", tinySpec(t), "--set", "train.epoch=2"},
		{"sweep", tinySpec(t), "--forged-steps", "x"},
		{"plan", tinySpec(t), "--set", "attack.bogus=1"},
	} {
		checkOneLine(t, bad, s.run(bad...), exitBadInput)
	}
}
