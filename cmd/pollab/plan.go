package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"pollab/experiments"
)

// defaultGFLOPS converts planned FLOPs into CPU time: the rate of one core of the lab's
// machine on the MNIST MLP (the previous engine's paper run on an idle machine measured 23-25
// GFLOP/s for honest training in the Ledger, forgeries 13-16; the regenerated
// results/paper-reference ran under heavy load; small models run far slower per FLOP).
const defaultGFLOPS = 15

func init() {
	register(&cli.Command{
		Name:      "plan",
		Usage:     "print a spec's jobs per stage, their estimated cost and disk use, and what the cache already holds",
		UsageText: "pollab plan [--out DIR] [--cache DIR] [--gflops R] [--jobs] [--json] [--epochs E] [--seeds N] [--forged-steps T',...] [--set KEY=VALUE ...] CONFIG",
		Description: "Nothing runs. Stages: honest proofs -> calibration (d_ref) -> forgeries -> verification\n" +
			"(re-executions, one job per proof and env) -> merge (rows, summary, figures). FLOPs are\n" +
			"gradient steps times the model's 3*F*B; CPU time assumes R GFLOP/s per core; disk is the\n" +
			"proofs (float64 checkpoints, indices, crafted data), Evidence and re-execution files.",
		Flags: append(append(dirFlags(),
			&cli.Float64Flag{Name: "gflops", Value: defaultGFLOPS, Usage: "GFLOP/s of one core, for the CPU-time column"},
			&cli.BoolFlag{Name: "jobs", Usage: "list every job"},
			&cli.BoolFlag{Name: "json", Usage: "print the plan as one JSON document"},
		), specFlags()...),
		Action: func(c *cli.Context) error {
			config, err := oneArg(c, "plan", "CONFIG")
			if err != nil {
				return err
			}
			if !(c.Float64("gflops") > 0) {
				return usageError{fmt.Errorf("plan: --gflops %g: want > 0", c.Float64("gflops"))}
			}
			spec, opt, err := loadSpecDirs(c, config)
			if err != nil {
				return err
			}
			plan, err := experiments.NewPlan(spec, opt)
			if err != nil {
				return usageError{err}
			}
			if c.Bool("json") {
				return printJSON(plan)
			}
			printPlan(os.Stdout, plan, c.Float64("gflops")*1e9, c.Bool("jobs"))
			return nil
		},
	})
}

// dirFlags are a spec run's directories, which loadSpecDirs reads: sweep, plan and job run
// take them.
func dirFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "out", Usage: "results directory (default results/<spec name>)"},
		&cli.StringFlag{Name: "cache", Usage: "proof and evidence cache, shareable between specs (default <out>/cache)"},
	}
}

// loadSpecDirs loads CONFIG with the spec flags and resolves --out (default
// results/<name>) and --cache (dirFlags).
func loadSpecDirs(c *cli.Context, config string) (*experiments.Spec, experiments.Options, error) {
	spec, _, err := loadSpec(c, config)
	if err != nil {
		return nil, experiments.Options{}, err
	}
	out := c.String("out")
	if out == "" {
		out = filepath.Join("results", spec.Name)
	}
	return spec, experiments.Options{Out: out, CacheDir: c.String("cache"), Version: pollabVersion(), Command: os.Args}, nil
}

func printPlan(w io.Writer, p *experiments.Plan, rate float64, jobs bool) {
	printf(w, "plan %s (spec %s), cache %s\n", p.Spec, p.SpecHash[:12], p.Cache)
	printf(w, "%-10s %6s %6s %8s %11s %11s %10s %10s %10s\n", "stage", "jobs", "done", "missing", "GFLOP", "(max)", "CPU time", "(max)", "disk")
	var total experiments.StagePlan
	line := func(name string, st experiments.StagePlan) {
		var f, fmax float64
		var b int64
		for _, j := range st.Jobs {
			f, fmax, b = f+j.FLOPs, fmax+j.FLOPsMax, b+j.Bytes
		}
		m := len(st.Missing())
		printf(w, "%-10s %6d %6d %8d %11.4g %11.4g %10s %10s %10s\n", name, len(st.Jobs), len(st.Jobs)-m, m,
			f/1e9, fmax/1e9, cpuTime(f, rate), cpuTime(fmax, rate), bytesString(b))
	}
	for _, st := range p.Stages {
		line(st.Name, st)
		total.Jobs = append(total.Jobs, st.Jobs...)
	}
	line("total", total)
	printf(w, "(FLOPs: gradient steps x the Ledger's 3*F*B; max: Zhang et al.'s retry rule at its limit; CPU time at %.3g GFLOP/s per core)\n", rate/1e9)
	if !jobs {
		return
	}
	for _, st := range p.Stages {
		for _, j := range st.Jobs {
			done := "missing"
			if j.Done {
				done = "done"
			}
			printf(w, "%-9s %4d %s %-7s %10.4g GFLOP %10s  %s\n", j.Stage, j.Index, j.ID, done, j.FLOPs/1e9, bytesString(j.Bytes), j.Name)
		}
	}
}

func cpuTime(flops, rate float64) string {
	d := time.Duration(flops / rate * float64(time.Second))
	switch {
	case d < time.Second:
		return "<1s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return fmt.Sprintf("%.1fh", d.Hours())
	}
}

func bytesString(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	f, i := float64(b), -1
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f%ciB", f, "KMGTP"[i])
}
