package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"pollab/data"
	"pollab/prover"
	"pollab/stats"
	"pollab/verifier"
)

func init() {
	register(&cli.Command{
		Name:      "calibrate",
		Usage:     "measure d_ref: the distance between the final weights of two honest runs differing only in seed",
		UsageText: "pollab calibrate --model M --dataset D --epochs E --seeds 1,2 --out FILE [training options]",
		Description: "Trains the configuration twice (same hyperparameters, two seeds), writes no proof, and\n" +
			"stores the l1, l2, linf and cosine distances of the two final weight vectors with the\n" +
			"configuration in FILE. pollab verify --normalized --dref FILE reads thresholds as fractions of it.\n" +
			"The training flags are pollab train's; --k does not change d_ref.",
		Flags: append(trainingFlags(),
			&cli.StringFlag{Name: "seeds", Usage: "the two root seeds", Value: "1,2"},
			&cli.StringFlag{Name: "out", Usage: "calibration file to write (JSON)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
			&cli.BoolFlag{Name: "json", Usage: "print the calibration as one JSON document"},
		),
		Action: calibrateAction,
	})
}

func parseSeeds(s string) ([2]uint64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return [2]uint64{}, fmt.Errorf("--seeds %q: want two comma-separated seeds", s)
	}
	var out [2]uint64
	for i, p := range parts {
		v, err := strconv.ParseUint(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return out, fmt.Errorf("--seeds %q: %q is not a seed", s, p)
		}
		out[i] = v
	}
	if out[0] == out[1] {
		return out, fmt.Errorf("--seeds %q: the two runs must differ in seed", s)
	}
	return out, nil
}

func calibrateAction(c *cli.Context) error {
	seeds, err := parseSeeds(c.String("seeds"))
	if err != nil {
		return usageError{err}
	}
	cfg, err := trainConfig(c, "calibrate") // the flags of pollab train; --out is the calibration file
	if err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	bar := newPhaseBar("calibrating", c.Bool("quiet") || c.Bool("json")) // notes name the run
	opt := prover.Options{Command: os.Args, Version: pollabVersion(), Progress: bar.Update}
	a, b, err := prover.Calibrate(ctx, cfg, seeds, opt)
	bar.Done()
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	ds, err := data.Load(cfg.Dataset, data.Train) // already loaded by the runs: cached
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	cal := &verifier.Calibration{
		Model: cfg.Model, Dataset: ds.Name, DType: cfg.DType.String(), Optimizer: "sgd", Hyper: cfg.Hyper,
		Batch: cfg.Batch, Epochs: cfg.Epochs, Steps: data.ScheduleSteps(ds.Len(), cfg.Batch, cfg.Epochs),
		Seeds: seeds, DRef: stats.Distance(a, b),
	}
	if err := cal.Save(c.String("out")); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(cal)
	}
	w := humanOut(false)
	printf(w, "d_ref for %s on %s (seeds %d, %d): %s\n", cal.Model, cal.Dataset, seeds[0], seeds[1], cal.DRef)
	printf(w, "written to %s\n", c.String("out"))
	return nil
}
