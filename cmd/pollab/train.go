package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"pollab/autodiff"
	"pollab/data"
	"pollab/proof"
	"pollab/prover"
)

func init() {
	register(&cli.Command{
		Name:      "train",
		Usage:     "train honestly and record a Proof-of-Learning",
		UsageText: "pollab train --model M --dataset D --epochs E --out DIR [options]",
		Description: "SGD with PyTorch semantics (momentum, weight decay, MultiStep lr stepped per iteration).\n" +
			"Checkpoints (state before update t) are written at t = 0, k, 2k, ..., T as training runs;\n" +
			"an interrupted run continues with --resume and yields the same proof bytes.",
		Flags: append(trainingFlags(),
			&cli.Uint64Flag{Name: "seed", Usage: "root seed (init, schedule, augmentation)", Value: 1},
			&cli.BoolFlag{Name: "record-aug-seeds", Usage: "record the per-step augmentation seeds in the proof"},
			&cli.StringFlag{Name: "commit-nonce", Usage: "record a seed commitment under this nonce (supplied by the verifier or fixed by the task)"},
			&cli.BoolFlag{Name: "resume", Usage: "continue an interrupted run in --out from its last checkpoint"},
			&cli.StringFlag{Name: "out", Usage: "proof directory"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON document"},
		),
		Action: trainAction,
	})
}

// trainingFlags describe a training run: pollab train records one, pollab calibrate runs it
// twice with different seeds. trainConfig reads them.
func trainingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "model spec, e.g. mlp:784-128-10:relu, lenet5, cnn-cifar, resnet20"},
		&cli.StringFlag{Name: "dataset", Usage: "dataset name: mnist, fashion-mnist, cifar10, cifar100, synthetic[:k=v,...]"},
		&cli.IntFlag{Name: "epochs", Usage: "training epochs E", Value: 1},
		&cli.IntFlag{Name: "batch", Usage: "batch size B", Value: 128},
		&cli.Float64Flag{Name: "lr", Usage: "initial learning rate", Value: 0.01},
		&cli.Float64Flag{Name: "momentum", Usage: "SGD momentum (0 = plain SGD)"},
		&cli.Float64Flag{Name: "weight-decay", Usage: "L2 weight decay"},
		&cli.StringFlag{Name: "milestones", Usage: "comma-separated epochs where lr *= gamma (converted to steps as Python's round(m·N/B), halves to even)"},
		&cli.Float64Flag{Name: "gamma", Usage: "MultiStep lr factor", Value: 0.1},
		&cli.IntFlag{Name: "k", Usage: "checkpoint interval in steps", Value: 100},
		&cli.StringFlag{Name: "dtype", Usage: "f32 or f64", Value: "f32"},
		&cli.BoolFlag{Name: "augment", Usage: "random crop (padding 4) and horizontal flip, seeded per step"},
	}
}

// trainConfig turns the trainingFlags of command (and its required --out) into a
// prover.Config; the seed is the caller's. Every error is a usage error.
func trainConfig(c *cli.Context, command string) (prover.Config, error) {
	if err := noArguments(c, command); err != nil {
		return prover.Config{}, err
	}
	// Checked here rather than with cli's Required, which also dumps the help text.
	for _, name := range []string{"model", "dataset", "out"} {
		if strings.TrimSpace(c.String(name)) == "" {
			return prover.Config{}, usageError{fmt.Errorf("%s: --%s is required", command, name)}
		}
	}
	dt, err := autodiff.ParseDType(c.String("dtype"))
	if err != nil {
		return prover.Config{}, usageError{fmt.Errorf("--dtype: %w", err)}
	}
	cfg := prover.Config{
		Model:   c.String("model"),
		Dataset: c.String("dataset"),
		DType:   dt,
		Hyper: proof.Hyper{
			LR:          c.Float64("lr"),
			Momentum:    c.Float64("momentum"),
			WeightDecay: c.Float64("weight-decay"),
			Gamma:       c.Float64("gamma"),
		},
		Batch:   c.Int("batch"),
		Epochs:  c.Int("epochs"),
		K:       c.Int("k"),
		Augment: c.Bool("augment"),
	}
	if ms := strings.TrimSpace(c.String("milestones")); ms != "" {
		var epochs []float64
		for _, f := range strings.Split(ms, ",") {
			e, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || e <= 0 {
				return cfg, usageError{fmt.Errorf("--milestones %q: %q is not a positive number of epochs", ms, f)}
			}
			epochs = append(epochs, e)
		}
		if cfg.Batch <= 0 {
			return cfg, usageError{fmt.Errorf("--batch %d is not positive", cfg.Batch)}
		}
		train, err := data.Load(cfg.Dataset, data.Train)
		if err != nil {
			return cfg, err
		}
		cfg.Hyper.Milestones = prover.MilestoneSteps(epochs, train.Len(), cfg.Batch)
	}
	return cfg, nil
}

// trainReport is the --json document of pollab train.
type trainReport struct {
	Out          string        `json:"out"`
	Model        string        `json:"model"`
	Dataset      string        `json:"dataset"`
	Steps        int           `json:"steps"`
	Checkpoints  int           `json:"checkpoints"`
	ResumedFrom  int           `json:"resumed_from"`
	Milestones   []int         `json:"milestones_steps"`
	TestAccuracy float64       `json:"test_accuracy"`
	TestPoints   int           `json:"test_points"`
	Ledger       autodiff.Cost `json:"ledger"`
	WallSeconds  float64       `json:"wall_s"`
}

func trainAction(c *cli.Context) error {
	cfg, err := trainConfig(c, "train")
	if err != nil {
		return err
	}
	if err := checkIntervalFits(cfg); err != nil {
		return err
	}
	cfg.Seed, cfg.RecordAugSeeds, cfg.CommitNonce = c.Uint64("seed"), c.Bool("record-aug-seeds"), c.String("commit-nonce")
	if cfg.CommitNonce != "" {
		if err := proof.CheckNonce(cfg.CommitNonce); err != nil {
			return usageError{fmt.Errorf("--commit-nonce: %w", err)}
		}
	}
	// Ctrl-C or SIGTERM stops between steps; the checkpoints written so far stay resumable.
	ctx, stop := interruptible()
	defer stop()
	resumeHint = "the checkpoints written so far are kept: rerun the same command with --resume to continue"

	bar := newPhaseBar("training", c.Bool("quiet") || c.Bool("json"))
	opt := prover.Options{
		Resume:   c.Bool("resume"),
		Command:  os.Args,
		Version:  pollabVersion(),
		Progress: bar.Update,
	}
	res, err := prover.Train(ctx, cfg, c.String("out"), opt)
	bar.Done()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("train %s: %w (continue with --resume)", c.String("out"), err)
		}
		return fmt.Errorf("train %s: %w", c.String("out"), err)
	}
	if c.Bool("json") {
		return printJSON(trainReport{
			Out: res.Out, Model: res.Model, Dataset: res.Dataset, Steps: res.Steps,
			Checkpoints: res.Checkpoints, ResumedFrom: res.ResumedFrom, Milestones: cfg.Hyper.Milestones,
			TestAccuracy: res.TestAccuracy, TestPoints: res.TestPoints, Ledger: res.Cost,
			WallSeconds: res.Wall.Seconds(),
		})
	}
	w := humanOut(false)
	printf(w, "proof: %s\n", res.Out)
	printf(w, "  %s on %s, %d steps, %d checkpoints (k %d)", res.Model, res.Dataset, res.Steps, res.Checkpoints, cfg.K)
	if res.ResumedFrom >= 0 {
		printf(w, ", resumed from step %d", res.ResumedFrom)
	}
	printf(w, "\n")
	printf(w, "  test accuracy: %.4f (%d points)\n", res.TestAccuracy, res.TestPoints)
	printLedger(w, res.Cost)
	printf(w, "  wall time: %s\n", res.Wall.Round(time.Millisecond))
	return nil
}

// printLedger prints a Cost on one indented line.
func printLedger(w interface{ Write([]byte) (int, error) }, cst autodiff.Cost) {
	printf(w, "  ledger: %d forward, %d backward, %d second-order passes; %d samples; %.4g gradient FLOPs, %.4g other FLOPs; engine wall %s\n",
		cst.Forward, cst.Backward, cst.SecondOrder, cst.Samples, cst.FLOPs, cst.Other, cst.Wall.Round(time.Millisecond))
}

// checkIntervalFits refuses a checkpoint interval longer than the run: its proof would hold W0
// and W_T only, so every verifier check would re-execute the whole run.
func checkIntervalFits(cfg prover.Config) error {
	if cfg.Batch <= 0 || cfg.Epochs <= 0 {
		return nil // prover reports these
	}
	train, err := data.Load(cfg.Dataset, data.Train)
	if err != nil {
		return err
	}
	if steps := data.ScheduleSteps(train.Len(), cfg.Batch, cfg.Epochs); steps > 0 && cfg.K > steps {
		return usageError{fmt.Errorf("train: --k %d exceeds the run's %d steps (%d epochs of %d points at batch %d): the proof would hold W0 and W_T only",
			cfg.K, steps, cfg.Epochs, train.Len(), cfg.Batch)}
	}
	return nil
}
