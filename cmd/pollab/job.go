package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"pollab/experiments"
)

func init() {
	register(&cli.Command{
		Name:   "job",
		Usage:  "run one job of a sweep's plan (what a Slurm array task runs)",
		Hidden: true,
		Subcommands: []*cli.Command{{
			Name:      "run",
			Usage:     "run job INDEX of STAGE from the shared cache",
			UsageText: "pollab job run --stage STAGE --index INDEX [--out DIR] [--cache DIR] [--workers N] [--spec-hash H] [spec overrides as sweep's] CONFIG",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "stage", Required: true, Usage: "honest, calibrate, forge, verify or merge"},
				&cli.IntFlag{Name: "index", Value: -1, Usage: "job index within the stage (an array task's SLURM_ARRAY_TASK_ID)"},
				&cli.IntFlag{Name: "workers", Usage: "worker goroutines of the merge job (0: one per CPU)"},
				&cli.StringFlag{Name: "spec-hash", Usage: "refuse to run unless CONFIG hashes to this (the submitted spec)"},
			}, append(dirFlags(), specFlags()...)...),
			Action: jobRun,
		}},
	})
}

func jobRun(c *cli.Context) error {
	config, err := oneArg(c, "job run", "CONFIG")
	if err != nil {
		return err
	}
	spec, opt, err := loadSpecDirs(c, config)
	if err != nil {
		return err
	}
	if h := c.String("spec-hash"); h != "" && h != spec.Hash() {
		return usageError{fmt.Errorf("job run: spec %s hashes to %s, the sweep was submitted for %s (was the spec edited?)", config, spec.Hash()[:12], h[:min(12, len(h))])}
	}
	if c.Int("index") < 0 || c.Int("workers") < 0 {
		return usageError{fmt.Errorf("job run: --index %d, --workers %d: want >= 0", c.Int("index"), c.Int("workers"))}
	}
	opt.Workers = c.Int("workers")
	ctx, stop := interruptible()
	defer stop()
	start := time.Now()
	ran, err := experiments.RunJob(ctx, spec, opt, c.String("stage"), c.Int("index"))
	if err != nil {
		return fmt.Errorf("job %s %d: %w", c.String("stage"), c.Int("index"), err)
	}
	state := "already done"
	if ran {
		state = fmt.Sprintf("done in %.2fs", time.Since(start).Seconds())
	}
	printf(os.Stdout, "job %s %d of %s: %s\n", c.String("stage"), c.Int("index"), spec.Name, state)
	return nil
}
