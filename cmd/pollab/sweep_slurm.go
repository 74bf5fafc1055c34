package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"pollab/experiments"
	"pollab/slurm"
)

// slurmFlags are sweep's flags for running the plan as Slurm array jobs.
func slurmFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "slurm", Usage: "submit the plan's missing jobs as Slurm array jobs (one per stage, each afterok the previous), wait and report"},
		&cli.BoolFlag{Name: "emit-only", Usage: "with --slurm: only write the batch scripts and submit.sh into <out>/slurm"},
		&cli.BoolFlag{Name: "no-wait", Usage: "with --slurm: submit and return (a rerun waits for these jobs, then resubmits what is missing)"},
		&cli.StringFlag{Name: "partition", Usage: "sbatch --partition"},
		&cli.StringFlag{Name: "time", Usage: "sbatch --time per array task, e.g. 4:00:00"},
		&cli.IntFlag{Name: "cpus-per-task", Value: 1, Usage: "sbatch --cpus-per-task (jobs use one core; the merge job uses all)"},
		&cli.IntFlag{Name: "max-parallel", Usage: "array throttle: at most N tasks of a stage at once (0: no limit)"},
		&cli.IntFlag{Name: "max-array-size", Value: slurm.DefaultMaxArraySize, Usage: "the cluster's MaxArraySize (scontrol show config): larger stages become several arrays"},
		&cli.StringSliceFlag{Name: "sbatch-arg", Usage: "extra sbatch argument, e.g. --sbatch-arg=--account=lab (repeatable)"},
		&cli.DurationFlag{Name: "poll", Value: 2 * time.Second, Usage: "squeue polling interval"},
	}
}

// slurmFlagsUnset refuses Slurm options on a local sweep (they would be silently ignored).
func slurmFlagsUnset(c *cli.Context) error {
	for _, f := range slurmFlags() {
		if name := f.Names()[0]; c.IsSet(name) {
			return usageError{fmt.Errorf("sweep: --%s needs --slurm", name)}
		}
	}
	return nil
}

// slurmSweep runs spec's plan on Slurm: it waits for jobs of an earlier submission still
// queued, reports what they left undone, submits every stage with missing jobs, waits, and
// reports failed tasks with their logs.
func slurmSweep(c *cli.Context, config string) error {
	if c.Bool("json") {
		return usageError{fmt.Errorf("sweep --slurm: --json is not supported")}
	}
	if c.Int("cpus-per-task") < 1 || c.Int("max-parallel") < 0 || c.Int("max-array-size") < 1 || c.Duration("poll") <= 0 {
		return usageError{fmt.Errorf("sweep --slurm: --cpus-per-task %d, --max-parallel %d, --max-array-size %d, --poll %s: want >= 1, >= 0, >= 1, > 0",
			c.Int("cpus-per-task"), c.Int("max-parallel"), c.Int("max-array-size"), c.Duration("poll"))}
	}
	spec, opt, err := loadSpecDirs(c, config)
	if err != nil {
		return err
	}
	cfg, err := slurmConfig(c, spec, config, opt)
	if err != nil {
		return err
	}
	opt.Out, opt.CacheDir = cfg.Out, cfg.Cache
	if !c.Bool("emit-only") {
		if err := slurm.CheckTools(); err != nil {
			return fmt.Errorf("sweep --slurm: %w", err)
		}
	}
	w := os.Stdout
	plan, err := experiments.NewPlan(spec, opt)
	if err != nil {
		return usageError{err}
	}
	if c.Bool("emit-only") {
		path, err := slurm.EmitSubmit(cfg, plan)
		if err != nil {
			return err
		}
		printf(w, "batch scripts in %s (one per stage: %s)\n", cfg.Dir(), strings.Join(experiments.Stages, ", "))
		if path == "" {
			printf(w, "every job is done: nothing to submit\n")
		} else {
			printf(w, "submit the missing jobs with: sh %s\n", path)
		}
		return nil
	}
	ctx, stop := interruptible()
	defer stop()

	if prev, err := slurm.LoadState(cfg); err != nil {
		return err
	} else if prev != nil && len(prev.Submissions) > 0 {
		active, err := slurm.Active(ctx, prev.Submissions)
		if err != nil {
			return err
		}
		if len(active) > 0 && prev.SpecHash != cfg.SpecHash {
			return fmt.Errorf("sweep --slurm: jobs %s of another spec still write into %s", strings.Join(active, ","), cfg.Out)
		}
		if len(active) > 0 {
			printf(w, "waiting for jobs %s of the earlier submission\n", strings.Join(active, ","))
			if err := slurm.Wait(ctx, cfg, prev.Submissions, nil); err != nil {
				return err
			}
			if plan, err = experiments.NewPlan(spec, opt); err != nil {
				return err
			}
		}
		if prev.SpecHash == cfg.SpecHash && !prev.Reported {
			printFailures(w, slurm.Failures(cfg, prev.Submissions, plan), "earlier submission")
		}
	}
	if plan.Complete() {
		printf(w, "every job of %s is done: nothing to submit\n", spec.Name)
		return printMerged(w, spec.Name, cfg.Out)
	}
	start := time.Now()
	subs, err := slurm.Submit(ctx, cfg, plan)
	for _, s := range subs {
		printf(w, "submitted %-9s job %s: %d array tasks\n", s.Stage, s.JobID, len(s.Indices))
	}
	if err != nil {
		return fmt.Errorf("sweep --slurm: %w", err)
	}
	if c.Bool("no-wait") {
		printf(w, "logs in %s; rerun the same command to wait for these jobs and resubmit what is missing\n", filepath.Join(cfg.Dir(), "logs"))
		return nil
	}
	last := ""
	err = slurm.Wait(ctx, cfg, subs, func(active []string) {
		var stages []string
		for _, s := range subs {
			if slices.Contains(active, s.JobID) {
				stages = append(stages, s.Stage)
			}
		}
		if now := strings.Join(stages, ", "); now != last && now != "" {
			printf(w, "%6.1fs queued or running: %s\n", time.Since(start).Seconds(), now)
			last = now
		}
	})
	if ctx.Err() != nil {
		var ids []string
		for _, s := range subs {
			ids = append(ids, s.JobID)
		}
		return fmt.Errorf("sweep --slurm: interrupted; jobs %s keep running (scancel them to stop), rerun to wait for them", strings.Join(ids, " "))
	}
	if err != nil {
		return err
	}
	plan, err = experiments.NewPlan(spec, opt)
	if err != nil {
		return err
	}
	fails := slurm.Failures(cfg, subs, plan)
	if err := slurm.SaveState(cfg, &slurm.State{SpecHash: cfg.SpecHash, Submissions: subs, Reported: true}); err != nil {
		return err
	}
	if len(fails) > 0 {
		printFailures(w, fails, "")
		n := 0
		for _, s := range subs {
			n += len(s.Indices)
		}
		return fmt.Errorf("sweep %s: %d of %d submitted jobs did not finish (above); rerun to resubmit only the missing ones", spec.Name, len(fails), n)
	}
	printf(w, "all jobs finished in %.1fs\n", time.Since(start).Seconds())
	return printMerged(w, spec.Name, cfg.Out)
}

// slurmConfig resolves the absolute paths every node needs and the sbatch options.
func slurmConfig(c *cli.Context, spec *experiments.Spec, config string, opt experiments.Options) (*slurm.Config, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sweep --slurm: own binary: %w", err)
	}
	out, err := filepath.Abs(opt.Out)
	if err != nil {
		return nil, err
	}
	cache := opt.CacheDir
	if cache == "" {
		cache = filepath.Join(out, "cache")
	}
	if cache, err = filepath.Abs(cache); err != nil {
		return nil, err
	}
	specArg := config
	if _, err := os.Stat(config); err == nil {
		if specArg, err = filepath.Abs(config); err != nil {
			return nil, err
		}
	}
	o, err := specOverrides(c)
	if err != nil {
		return nil, err
	}
	return &slurm.Config{Binary: bin, Spec: specArg, SpecHash: spec.Hash(), SpecArgs: o.Args(), Out: out, Cache: cache,
		Partition: c.String("partition"), Time: c.String("time"), CPUsPerTask: c.Int("cpus-per-task"),
		MaxParallel: c.Int("max-parallel"), MaxArraySize: c.Int("max-array-size"), Extra: c.StringSlice("sbatch-arg"), Poll: c.Duration("poll")}, nil
}

// printFailures names every job a submission left undone: its log and last log line, or, for
// tasks that never started, how many per stage.
func printFailures(w io.Writer, fails []slurm.Failure, what string) {
	if len(fails) == 0 {
		return
	}
	if what != "" {
		printf(w, "%s: %d jobs did not finish\n", what, len(fails))
	}
	never := map[string]int{}
	var order []string
	for _, f := range fails {
		if f.Log == "" {
			if never[f.Stage] == 0 {
				order = append(order, f.Stage)
			}
			never[f.Stage]++
			continue
		}
		printf(w, "FAILED %s %d (%s), task %s_%d, log %s: %s\n", f.Stage, f.Index, f.Name, f.JobID, f.Task, f.Log, f.LastLog)
	}
	for _, s := range order {
		printf(w, "NOT RUN %s: %d tasks never started (cancelled, or an earlier stage failed)\n", s, never[s])
	}
}

// printMerged prints the report the merge job left in out.
func printMerged(w io.Writer, name, out string) error {
	var rep experiments.Report
	if err := experiments.ReadRunReport(out, &rep); err != nil {
		return err
	}
	printReport(w, name, &rep)
	return nil
}
