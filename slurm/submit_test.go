package slurm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pollab/experiments"
)

// planWith is a plan whose honest stage has n jobs (those in done finished) and one merge job.
func planWith(n int, done ...int) *experiments.Plan {
	honest := experiments.StagePlan{Name: experiments.StageHonest}
	for i := 0; i < n; i++ {
		honest.Jobs = append(honest.Jobs, experiments.Job{Stage: experiments.StageHonest, Index: i})
	}
	for _, i := range done {
		honest.Jobs[i].Done = true
	}
	merge := experiments.StagePlan{Name: experiments.StageMerge, Jobs: []experiments.Job{{Stage: experiments.StageMerge}}}
	return &experiments.Plan{Stages: []experiments.StagePlan{honest, merge}}
}

// A stage larger than the cluster's MaxArraySize becomes several arrays whose task ids stay
// below it; the batch script adds the offset back; the next stage waits for all of them; and a
// failure is found under its task id's log.
func TestArraysWithinMaxArraySize(t *testing.T) {
	out := t.TempDir()
	c := &Config{Binary: "echo", Spec: "spec.toml", SpecHash: strings.Repeat("ab", 32), Out: out, Cache: out + "/cache", MaxArraySize: 4}
	plan := planWith(10, 2)
	submit, err := EmitSubmit(c, plan)
	if err != nil {
		t.Fatal(err)
	}
	fake := t.TempDir()
	record := filepath.Join(fake, "calls")
	script := "#!/bin/sh\necho \"$*\" >> " + record + "\nn=$(wc -l < " + record + ")\necho $((100 + n))\n"
	if err := os.WriteFile(filepath.Join(fake, "sbatch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", submit)
	cmd.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("submit.sh: %v\n%s", err, b)
	}
	calls, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "slurm")
	want := strings.Join([]string{
		"--parsable --array=0-1,3 " + filepath.Join(dir, "honest.sh"),
		"--parsable --array=0-3 " + filepath.Join(dir, "honest.sh") + " 4",
		"--parsable --array=0-1 " + filepath.Join(dir, "honest.sh") + " 8",
		"--parsable --array=0 --dependency=afterok:101:102:103 --kill-on-invalid-dep=yes " + filepath.Join(dir, "merge.sh"),
	}, "\n")
	if got := strings.TrimSpace(string(calls)); got != want {
		t.Fatalf("sbatch calls:\n%s\nwant\n%s", got, want)
	}
	// Array task 3 of the array at offset 4 runs job 7.
	run := exec.Command("sh", filepath.Join(dir, "honest.sh"), "4")
	run.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=3")
	b, err := run.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "job run --stage honest --index 7 ") {
		t.Fatalf("honest.sh 4 as task 3: %v: %s", err, b)
	}

	subs := c.chunks(plan, map[string]string{})
	for i := range subs {
		for j := range subs[i] {
			subs[i][j].JobID = string(rune('a' + i*3 + j))
		}
	}
	flat := append(subs[0], subs[1]...)
	for i := range plan.Stages[0].Jobs {
		plan.Stages[0].Jobs[i].Done = i != 7
	}
	plan.Stages[1].Jobs[0].Done = false
	log := c.Log(experiments.StageHonest, "b", 3)
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte("start\npollab: job honest 7: boom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fails := Failures(c, flat, plan)
	if len(fails) != 2 || fails[0].Index != 7 || fails[0].Task != 3 || fails[0].Log != log || fails[0].LastLog != "pollab: job honest 7: boom" ||
		fails[1].Stage != experiments.StageMerge || fails[1].Log != "" {
		t.Fatalf("failures %+v", fails)
	}
}
