package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"pollab/experiments"
)

func init() {
	register(&cli.Command{
		Name:      "sweep",
		Usage:     "run an experiment spec: proofs, forgeries, the verifier grid, results, figures",
		UsageText: "pollab sweep [--out DIR] [--workers N] [--epochs E] [--seeds N] [--forged-steps T',...] [--set KEY=VALUE ...] [--slurm [--partition P] [--time T] [--cpus-per-task C] [--max-parallel N] [--emit-only]] CONFIG",
		Description: "CONFIG is a TOML spec file or the name of an embedded spec (" +
			strings.Join(experiments.EmbeddedNames(), ", ") + ").\n" +
			"Proofs and Evidence are cached under DIR/cache by content hash: a rerun does only what is\n" +
			"missing, and a killed run resumes. Results: DIR/results.csv, summary.{md,csv,json},\n" +
			"provenance.json, figures/*.{png,svg,pdf}. Default DIR: results/<spec name>.\n" +
			"--slurm runs the plan (see pollab plan) as one sbatch array job per stage over a shared\n" +
			"cache; scripts and logs in DIR/slurm. The results equal a local run's.\n" +
			"--epochs, --seeds, --forged-steps and --set change the spec as it is loaded (e.g. the\n" +
			"paper-cifar spec at reduced scale: --epochs 2 --seeds 2 --forged-steps 20); the resolved\n" +
			"spec and its hash are in provenance.json.",
		Flags: append(append(runFlags(), specFlags()...), slurmFlags()...),
		Action: func(c *cli.Context) error {
			config, err := oneArg(c, "sweep", "CONFIG")
			if err != nil {
				return err
			}
			if c.Bool("slurm") || c.Bool("emit-only") {
				return slurmSweep(c, config)
			}
			if err := slurmFlagsUnset(c); err != nil {
				return err
			}
			return runSpec(c, config)
		},
	})
}

func runFlags() []cli.Flag {
	return append(dirFlags(),
		&cli.IntFlag{Name: "workers", Usage: "worker goroutines (0: the spec's, else one per CPU)"},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		&cli.BoolFlag{Name: "json", Usage: "print the run report as one JSON document"},
	)
}

// runSpec loads a spec, runs it, and prints where the results are.
func runSpec(c *cli.Context, config string) error {
	spec, opt, err := loadSpecDirs(c, config)
	if err != nil {
		return err
	}
	if c.Int("workers") < 0 {
		return usageError{fmt.Errorf("--workers %d: want >= 0", c.Int("workers"))}
	}
	ctx, stop := interruptible()
	defer stop()
	cache := opt.CacheDir
	if cache == "" {
		cache = filepath.Join(opt.Out, "cache")
	}
	resumeHint = fmt.Sprintf("rerun the same command to resume: finished proofs and evidence are cached in %s", cache)
	phases := newPhaseProgress(os.Stderr, c.Bool("quiet") || c.Bool("json"), term.IsTerminal(int(os.Stderr.Fd())))
	opt.Workers, opt.Phase = c.Int("workers"), phases.Update
	rep, err := experiments.Run(ctx, spec, opt)
	phases.Done()
	if err != nil {
		return fmt.Errorf("experiment %s: %w", spec.Name, err)
	}
	if c.Bool("json") {
		return printJSON(rep)
	}
	printReport(os.Stdout, spec.Name, rep)
	return nil
}

func printReport(w io.Writer, name string, rep *experiments.Report) {
	l := rep.Ledger
	printf(w, "experiment %s finished in %.1fs: %d rows in %s\n", name, rep.Wall.Seconds(), rep.Rows, rep.CSV)
	printf(w, "proofs: %d built, %d cached; trained %d steps, forged %d steps; evidence: %d gathered, %d cached; re-executed %d steps\n",
		l.ProofsBuilt, l.ProofsCached, l.TrainedSteps, l.ForgedSteps, l.EvidenceBuilt, l.EvidenceCached, l.ReexecutedSteps)
	printf(w, "summary: %s\n", filepath.Join(rep.Out, experiments.SummaryMD))
	for _, n := range rep.Notes {
		printf(w, "  %s\n", n)
	}
	if len(rep.Figures) > 0 {
		printf(w, "figures (also .svg and .pdf) in %s:\n", filepath.Dir(rep.Figures[0]))
		for _, f := range rep.Figures {
			printf(w, "  %s\n", f)
		}
	}
}
