package slurm

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pollab/experiments"
)

// slurmTestSpec is the spec the Slurm test sweeps: POLLAB_SLURM_SPEC, else the tiny test
// spec (32 jobs; the demo's 290 jobs take minutes of scheduling on two cores: .ci/run sets
// POLLAB_SLURM_SPEC to the demo, measured 195 s on two idle cores).
func slurmTestSpec(t *testing.T) string {
	if s := os.Getenv("POLLAB_SLURM_SPEC"); s != "" {
		return s
	}
	p, err := filepath.Abs(filepath.Join("..", "experiments", "testdata", "tiny.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// buildPollab builds the pollab binary into a fresh temporary directory: that directory and
// the binary's path.
func buildPollab(tb testing.TB) (work, bin string) {
	tb.Helper()
	work = tb.TempDir()
	bin = filepath.Join(work, "pollab")
	if out, err := exec.Command("go", "build", "-o", bin, "pollab/cmd/pollab").CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return work, bin
}

// TestSweepOnSlurm runs a spec with `pollab sweep --slurm` on a real single-node Slurm and
// checks the contract of issue 18:
//   - a verify array task cancelled with scancel (submitted held, so it is cancelled before it
//     runs) leaves exactly that job and the merge undone; the rerun waits for the earlier
//     jobs, reports them, and resubmits only those two;
//   - results.csv equals a local run's in every column but cost_wall_s;
//   - a task that fails (the spec edited after submission, which the worker refuses) is
//     reported with its log path and its last line.
func TestSweepOnSlurm(t *testing.T) {
	c := startCluster(t)
	start := time.Now()
	work, bin := buildPollab(t)
	src, err := os.ReadFile(slurmTestSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(work, "spec.toml") // a copy: the last part edits it
	if err := os.WriteFile(spec, src, 0o644); err != nil {
		t.Fatal(err)
	}
	pollab := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = c.env
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("pollab %s: %v, want ok=%v\n%s", strings.Join(args, " "), err, wantOK, out)
		}
		t.Logf("pollab %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	local, out := filepath.Join(work, "local"), filepath.Join(work, "slurm")
	pollab(true, "sweep", spec, "--out", local, "--quiet")
	tLocal := time.Since(start)

	// Submit held, cancel one verify task, release the rest.
	pollab(true, "sweep", spec, "--slurm", "--no-wait", "--out", out, "--sbatch-arg=--hold")
	first := readState(t, out)
	if got := stagesOf(first); !slices.Equal(got, []string{"honest", "calibrate", "forge", "verify", "merge"}) {
		t.Fatalf("first submission has stages %v", got)
	}
	verify := first.Submissions[3]
	killed := verify.Indices[len(verify.Indices)/2]
	c.run(t, "scancel", fmt.Sprintf("%s_%d", verify.JobID, killed))
	c.run(t, "scontrol", "release", strings.Join(jobIDs(first), ","))

	// The rerun waits, reports the cancelled task and the merge it blocked, resubmits just them.
	rerun := pollab(true, "sweep", spec, "--slurm", "--out", out, "--poll", "200ms")
	for _, want := range []string{"earlier submission: 2 jobs did not finish", "NOT RUN verify: 1 tasks", "NOT RUN merge: 1 tasks",
		"submitted verify", "submitted merge", "all jobs finished"} {
		if !strings.Contains(rerun, want) {
			t.Errorf("rerun output lacks %q", want)
		}
	}
	second := readState(t, out)
	if got := stagesOf(second); !slices.Equal(got, []string{"verify", "merge"}) ||
		!slices.Equal(second.Submissions[0].Indices, []int{killed}) || !slices.Equal(second.Submissions[1].Indices, []int{0}) {
		t.Fatalf("rerun submitted %+v, want verify [%d] and merge [0]", second.Submissions, killed)
	}
	diff, err := experiments.DiffResults(filepath.Join(out, "results.csv"), filepath.Join(local, "results.csv"))
	if err != nil || diff != "" {
		t.Fatalf("Slurm results.csv differs from the local run's: %s %v", diff, err)
	}
	again := pollab(true, "sweep", spec, "--slurm", "--out", out)
	if !strings.Contains(again, "nothing to submit") {
		t.Errorf("a complete sweep resubmitted: %s", again)
	}
	tSlurm := time.Since(start) - tLocal

	// A failing task names its log: only the merge is missing; the spec changes under it.
	if err := os.Remove(filepath.Join(out, "run.json")); err != nil {
		t.Fatal(err)
	}
	heldOut := pollab(true, "sweep", spec, "--slurm", "--no-wait", "--out", out, "--sbatch-arg=--hold")
	held := readState(t, out)
	if strings.Contains(heldOut, "earlier submission") {
		t.Error("a finished, reported submission was reported again")
	}
	if got := stagesOf(held); !slices.Equal(got, []string{"merge"}) {
		t.Fatalf("with only run.json gone, submitted %v", got)
	}
	edited := strings.Replace(string(src), "audit_seed = 7", "audit_seed = 8", 1)
	if edited == string(src) {
		t.Fatal("the test spec has no audit_seed = 7 to edit")
	}
	if err := os.WriteFile(spec, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	c.run(t, "scontrol", "release", held.Submissions[0].JobID)
	waitGone(t, c, held.Submissions[0].JobID)
	if err := os.WriteFile(spec, src, 0o644); err != nil {
		t.Fatal(err)
	}
	report := pollab(true, "sweep", spec, "--slurm", "--out", out, "--poll", "200ms")
	log := filepath.Join(out, "slurm", "logs", fmt.Sprintf("merge-%s_0.log", held.Submissions[0].JobID))
	if !strings.Contains(report, "FAILED merge 0") || !strings.Contains(report, log) || !strings.Contains(report, "was the spec edited?") {
		t.Errorf("the failed merge task is not reported with its log %s and error", log)
	}
	t.Logf("local run %.1fs; Slurm sweep, cancel and rerun %.1fs", tLocal.Seconds(), tSlurm.Seconds())
}

func readState(t *testing.T, out string) *State {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "slurm", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func stagesOf(s *State) []string {
	var out []string
	for _, sub := range s.Submissions {
		out = append(out, sub.Stage)
	}
	return out
}

func jobIDs(s *State) []string {
	var out []string
	for _, sub := range s.Submissions {
		out = append(out, sub.JobID)
	}
	return out
}

// waitGone waits until squeue no longer lists job id.
func waitGone(t *testing.T, c *cluster, id string) {
	t.Helper()
	c.waitFor(t, "job "+id+" to finish", 60*time.Second, func() bool {
		out, _ := c.output("squeue", "-h", "-j", id, "-o", "%i")
		return strings.TrimSpace(out) == "" || strings.Contains(out, "Invalid job id")
	})
}
