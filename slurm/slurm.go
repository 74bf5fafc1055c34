// Package slurm runs a sweep's plan (experiments.Plan) on a Slurm cluster through the CLI
// tools every Slurm version has: each stage with missing jobs becomes one `sbatch --array`
// job over the missing indices, with `--dependency=afterok` on the stage submitted before it;
// every array task runs `pollab job run --stage S --index $SLURM_ARRAY_TASK_ID`, which reads
// and writes the cache directory (a shared filesystem). Completion is polled with squeue;
// afterwards the plan is recomputed from the cache, so a task counts as failed exactly when
// its output is missing, and a rerun submits only what is missing.
package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"pollab/experiments"
	"pollab/internal/atomicfile"
)

// Config is how to submit: where the binary, the spec and the directories are (absolute
// paths every node sees) and the sbatch options.
type Config struct {
	Binary   string // the pollab binary
	Spec     string // the spec as the workers load it: an absolute file path or an embedded name
	SpecHash string // the workers refuse a spec whose hash differs
	// SpecArgs are the spec overrides the workers load the spec with (experiments.Overrides.Args).
	SpecArgs []string
	Out      string // results directory
	Cache    string // proof and evidence cache

	Partition   string
	Time        string // --time, e.g. 2:00:00
	CPUsPerTask int    // 0: 1
	MaxParallel int    // array throttle %N (0: none)
	// MaxArraySize is the cluster's (scontrol show config): array task ids stay below it
	// (0: Slurm's default, 1001); a stage with more jobs is split into several arrays.
	MaxArraySize int
	Extra        []string
	Poll         time.Duration // squeue interval (0: 2 s)
}

// Dir is where the scripts, logs and the submission record live (under Out).
func (c *Config) Dir() string { return filepath.Join(c.Out, "slurm") }

// Log is the log file of one array task.
func (c *Config) Log(stage, jobID string, task int) string {
	return filepath.Join(c.Dir(), "logs", fmt.Sprintf("%s-%s_%d.log", stage, jobID, task))
}

// DefaultMaxArraySize is Slurm's default MaxArraySize.
const DefaultMaxArraySize = 1001

// Submission is one submitted array job: jobs Indices of Stage, as array tasks index - Offset
// (the batch script's argument adds Offset back).
type Submission struct {
	Stage   string `json:"stage"`
	JobID   string `json:"job_id"`
	Indices []int  `json:"indices"`
	Offset  int    `json:"offset"`
	Script  string `json:"script"`
}

// chunks splits each stage's missing jobs into array jobs whose task ids stay below
// MaxArraySize: one []Submission (without job ids) per stage that has missing jobs.
func (c *Config) chunks(plan *experiments.Plan, scripts map[string]string) [][]Submission {
	limit := c.MaxArraySize
	if limit <= 0 {
		limit = DefaultMaxArraySize
	}
	var out [][]Submission
	for _, st := range plan.Stages {
		var subs []Submission
		for _, i := range st.Missing() {
			if n := len(subs); n == 0 || i-subs[n-1].Offset >= limit {
				subs = append(subs, Submission{Stage: st.Name, Offset: i, Script: scripts[st.Name]})
			}
			subs[len(subs)-1].Indices = append(subs[len(subs)-1].Indices, i)
		}
		if len(subs) > 0 {
			out = append(out, subs)
		}
	}
	return out
}

// State is the record of the last submission (Dir()/state.json).
type State struct {
	SpecHash    string       `json:"spec_hash"`
	Submissions []Submission `json:"submissions"`
	// Reported: a sweep waited for these jobs and reported their failures (a rerun does not
	// report them again).
	Reported bool `json:"reported"`
}

// ErrNoSlurm is returned when sbatch or squeue is not on PATH.
var ErrNoSlurm = errors.New("not on PATH (this needs a Slurm submit host, or use --emit-only)")

// CheckTools reports a missing Slurm client tool.
func CheckTools() error {
	for _, t := range []string{"sbatch", "squeue"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s %w", t, ErrNoSlurm)
		}
	}
	return nil
}

// WriteScripts writes one batch script per stage into Dir() and returns their paths by stage.
func WriteScripts(c *Config) (map[string]string, error) {
	if err := os.MkdirAll(filepath.Join(c.Dir(), "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("slurm scripts: %w", err)
	}
	paths := map[string]string{}
	for _, stage := range experiments.Stages {
		path := filepath.Join(c.Dir(), stage+".sh")
		if err := atomicfile.WriteFile(path, []byte(c.script(stage))); err != nil {
			return nil, err
		}
		paths[stage] = path
	}
	return paths, nil
}

// script is the batch script of one stage: one array task runs one job of the stage.
func (c *Config) script(stage string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# pollab sweep %s: stage %s, one array task per job: job index = OFFSET (the argument, default 0) + SLURM_ARRAY_TASK_ID\n", c.SpecHash[:12], stage)
	fmt.Fprintf(&b, "#SBATCH --job-name=pollab-%s\n", stage)
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(c.Dir(), "logs", stage+"-%A_%a.log"))
	fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", max(c.CPUsPerTask, 1))
	if c.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", c.Partition)
	}
	if c.Time != "" {
		fmt.Fprintf(&b, "#SBATCH --time=%s\n", c.Time)
	}
	var overrides strings.Builder
	for _, a := range c.SpecArgs {
		overrides.WriteString(quote(a) + " ")
	}
	fmt.Fprintf(&b, "exec %s job run --stage %s --index \"$((${1:-0} + SLURM_ARRAY_TASK_ID))\" --workers %d --out %s --cache %s --spec-hash %s %s%s\n",
		quote(c.Binary), stage, max(c.CPUsPerTask, 1), quote(c.Out), quote(c.Cache), c.SpecHash, overrides.String(), quote(c.Spec))
	return b.String()
}

// sbatchArgs are the command-line arguments of one array job (after "sbatch"); after is the
// job ids it depends on, joined with ":".
func (c *Config) sbatchArgs(sub Submission, after string) []string {
	tasks := make([]int, len(sub.Indices))
	for i, x := range sub.Indices {
		tasks[i] = x - sub.Offset
	}
	arr := arraySpec(tasks)
	if c.MaxParallel > 0 {
		arr += "%" + strconv.Itoa(c.MaxParallel)
	}
	args := []string{"--parsable", "--array=" + arr}
	if after != "" {
		args = append(args, "--dependency=afterok:"+after, "--kill-on-invalid-dep=yes")
	}
	args = append(append(args, c.Extra...), sub.Script)
	if sub.Offset > 0 {
		args = append(args, strconv.Itoa(sub.Offset))
	}
	return args
}

// EmitSubmit writes Dir()/submit.sh, the sbatch chain for the plan's missing jobs, for users
// who submit by hand, and returns its path (empty when nothing is missing).
func EmitSubmit(c *Config, plan *experiments.Plan) (string, error) {
	scripts, err := WriteScripts(c)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Submits the missing jobs of the plan: array jobs per stage, each after the stage before.\nset -e\n")
	var prev []string
	n := 0
	for _, stage := range c.chunks(plan, scripts) {
		var vars []string
		for _, sub := range stage {
			v := "j" + strconv.Itoa(n)
			args := c.sbatchArgs(sub, strings.Join(prev, ":"))
			for i := range args {
				args[i] = quoteKeep(args[i])
			}
			fmt.Fprintf(&b, "%s=$(sbatch %s)\necho \"%s: job $%s (%d tasks)\"\n", v, strings.Join(args, " "), sub.Stage, v, len(sub.Indices))
			vars, n = append(vars, "$"+v), n+1
		}
		prev = vars
	}
	if n == 0 {
		return "", nil
	}
	path := filepath.Join(c.Dir(), "submit.sh")
	return path, atomicfile.WriteFile(path, []byte(b.String()))
}

// Submit submits every stage of plan with missing jobs, in order, each array job after every
// array job of the stage before, and records the submissions in Dir()/state.json.
func Submit(ctx context.Context, c *Config, plan *experiments.Plan) ([]Submission, error) {
	scripts, err := WriteScripts(c)
	if err != nil {
		return nil, err
	}
	var subs []Submission
	var prev []string
	for _, stage := range c.chunks(plan, scripts) {
		var ids []string
		for _, sub := range stage {
			out, err := command(ctx, "sbatch", c.sbatchArgs(sub, strings.Join(prev, ":"))...)
			if err != nil {
				return subs, err
			}
			id, _, _ := strings.Cut(strings.TrimSpace(out), ";") // --parsable: "id" or "id;cluster"
			if _, err := strconv.Atoi(id); err != nil {
				return subs, fmt.Errorf("sbatch printed %q, want a job id", out)
			}
			sub.JobID = id
			subs = append(subs, sub)
			if err := SaveState(c, &State{SpecHash: c.SpecHash, Submissions: subs}); err != nil {
				return subs, err
			}
			ids = append(ids, id)
		}
		prev = ids
	}
	return subs, nil
}

// Active lists the job ids among subs that squeue still shows (pending or running).
func Active(ctx context.Context, subs []Submission) ([]string, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	var ids []string
	for _, s := range subs {
		ids = append(ids, s.JobID)
	}
	// %F is the array's job id for every task, so the answer names submitted ids.
	out, err := command(ctx, "squeue", "-h", "-j", strings.Join(ids, ","), "-o", "%F")
	if err != nil {
		if strings.Contains(err.Error(), "Invalid job id") {
			return nil, nil // every id already purged: finished
		}
		return nil, err
	}
	var active []string
	for _, l := range strings.Fields(out) {
		if !slices.Contains(active, l) {
			active = append(active, l)
		}
	}
	return active, nil
}

// Wait polls squeue until none of subs is queued or running; tick is called after each poll
// with the ids still active.
func Wait(ctx context.Context, c *Config, subs []Submission, tick func(active []string)) error {
	poll := c.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	for {
		active, err := Active(ctx, subs)
		if err != nil {
			return err
		}
		if tick != nil {
			tick(active)
		}
		if len(active) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// Failure is a submitted job whose output is not in the cache after its array finished.
type Failure struct {
	Stage   string `json:"stage"`
	Index   int    `json:"index"`
	Name    string `json:"name"`
	JobID   string `json:"job_id"`
	Task    int    `json:"task"`     // the array task id
	Log     string `json:"log"`      // empty when the task never started
	LastLog string `json:"last_log"` // the log's last non-empty line (the error)
}

// Failures compares the submissions with plan (recomputed after they finished): every
// submitted job not done is a failure, with its log when the task started.
func Failures(c *Config, subs []Submission, plan *experiments.Plan) []Failure {
	var out []Failure
	for _, s := range subs {
		st, err := plan.Stage(s.Stage)
		if err != nil {
			continue
		}
		for _, i := range s.Indices {
			if i >= len(st.Jobs) || st.Jobs[i].Done {
				continue
			}
			f := Failure{Stage: s.Stage, Index: i, Name: st.Jobs[i].Name, JobID: s.JobID, Task: i - s.Offset}
			if log := c.Log(s.Stage, s.JobID, f.Task); fileExists(log) {
				f.Log, f.LastLog = log, lastLine(log)
			}
			out = append(out, f)
		}
	}
	return out
}

// LoadState reads Dir()/state.json (nil, nil when there is none).
func LoadState(c *Config) (*State, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir(), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(c.Dir(), "state.json"), err)
	}
	return &s, nil
}

// SaveState writes Dir()/state.json atomically.
func SaveState(c *Config, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(c.Dir(), "state.json"), append(b, '\n'))
}

// command runs a Slurm tool and returns its stdout; an error carries its stderr.
func command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// arraySpec is sbatch's --array list for sorted indices, runs of consecutive ones as ranges
// ("0-8,11,13-14").
func arraySpec(xs []int) string {
	var parts []string
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(xs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", xs[i], xs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// quote makes s one shell word.
func quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:=,%+@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteKeep quotes s for submit.sh but leaves a $jN job reference expandable.
func quoteKeep(s string) string {
	if strings.Contains(s, "$j") {
		return `"` + s + `"`
	}
	return quote(s)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func lastLine(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
