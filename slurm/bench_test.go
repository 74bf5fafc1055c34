package slurm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"pollab/experiments"
)

// BenchmarkSweepWorkers measures how the job phase of a spec (POLLAB_SLURM_BENCH_SPEC, default
// the demo) scales with W = 1 and 2 concurrent array tasks on the single-node Slurm (one core
// each, --max-parallel W), against a local `pollab sweep --workers W` of the same spec, in
// interleaved rounds (POLLAB_SLURM_BENCH_ROUNDS, default 2; the order alternates). Per run:
// wall time, the time the jobs report inside themselves ("done in"), and the scheduler's
// overhead per job: (W x wall - sum of in-job times) / jobs, the core-seconds a job costs beyond
// its own work (queueing, dependencies, process start, loading the spec and the plan). Every
// Slurm run's results.csv must equal its local run's (but for cost_wall_s).
//
//	go test ./slurm -run '^$' -bench SweepWorkers -benchtime 1x
func BenchmarkSweepWorkers(b *testing.B) {
	c := startCluster(b)
	work, bin := buildPollab(b)
	spec := os.Getenv("POLLAB_SLURM_BENCH_SPEC")
	if spec == "" {
		spec = "demo"
	}
	rounds := 2
	if s := os.Getenv("POLLAB_SLURM_BENCH_ROUNDS"); s != "" {
		var err error
		if rounds, err = strconv.Atoi(s); err != nil || rounds < 1 {
			b.Fatalf("POLLAB_SLURM_BENCH_ROUNDS=%q", s)
		}
	}
	run := func(args ...string) time.Duration {
		cmd := exec.Command(bin, args...)
		cmd.Env = c.env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("pollab %v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	n := 0
	for r := 0; r < rounds; r++ {
		order := []int{1, 2}
		if r%2 == 1 {
			order = []int{2, 1}
		}
		var slurmWall [3]time.Duration
		for _, w := range order {
			n++
			localOut := filepath.Join(work, fmt.Sprint("local", n))
			local := run("sweep", spec, "--out", localOut, "--workers", fmt.Sprint(w), "--quiet")
			out := filepath.Join(work, fmt.Sprint("slurm", n))
			wall := run("sweep", spec, "--slurm", "--out", out, "--max-parallel", fmt.Sprint(w), "--poll", "100ms")
			if d, err := experiments.DiffResults(filepath.Join(out, "results.csv"), filepath.Join(localOut, "results.csv")); err != nil || d != "" {
				b.Fatalf("W=%d: Slurm results.csv differs from the local run's: %s %v", w, d, err)
			}
			jobs, inJobs := jobTimes(b, filepath.Join(out, "slurm", "logs"))
			slurmWall[w] = wall
			fmt.Printf("round %d W=%d: local %.1fs; slurm %.1fs for %d jobs, %.1fs inside jobs, overhead %.3f core-s/job; slurm/local %.2f\n",
				r+1, w, local.Seconds(), wall.Seconds(), jobs, inJobs.Seconds(),
				(float64(w)*wall.Seconds()-inJobs.Seconds())/float64(jobs), wall.Seconds()/local.Seconds())
		}
		fmt.Printf("round %d: slurm speed-up 1 -> 2 tasks: %.2fx\n", r+1, slurmWall[1].Seconds()/slurmWall[2].Seconds())
		b.ReportMetric(slurmWall[1].Seconds()/slurmWall[2].Seconds(), "speedup")
	}
}

var doneIn = regexp.MustCompile(`: done in ([0-9.]+)s`)

// jobTimes counts the task logs in dir and sums the time each job reports inside itself.
func jobTimes(b *testing.B, dir string) (int, time.Duration) {
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		b.Fatalf("no task logs in %s: %v", dir, err)
	}
	var sum float64
	for _, l := range logs {
		text, err := os.ReadFile(l)
		if err != nil {
			b.Fatal(err)
		}
		m := doneIn.FindSubmatch(text)
		if m == nil {
			b.Fatalf("%s: no 'done in' line:\n%s", l, text)
		}
		s, _ := strconv.ParseFloat(string(m[1]), 64)
		sum += s
	}
	return len(logs), time.Duration(sum * float64(time.Second))
}
