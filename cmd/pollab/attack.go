package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/urfave/cli/v2"

	"pollab/attacks"
	"pollab/verifier"
)

// attackCmd groups the spoofers; each spoofer's file appends its subcommand in its init.
var attackCmd = &cli.Command{
	Name:  "attack",
	Usage: "forge a proof of learning for a stolen model (zhang, infinitesimal, blindfold)",
	Description: "Each subcommand reads the target's honest proof (--target DIR: its final checkpoint is\n" +
		"the stolen model, its manifest the claims to copy) and writes a forged proof to --out.",
}

func init() { register(attackCmd) }

// attackTargetFlags are the flags every spoofer shares.
func attackTargetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "target", Usage: "honest proof directory whose final model is stolen", Required: true},
		&cli.StringFlag{Name: "out", Usage: "directory of the forged proof (must not hold a proof)", Required: true},
		&cli.Uint64Flag{Name: "seed", Usage: "root seed of the forged proof", Value: 1},
		&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON document"},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
	}
}

// loadAttackTarget reads --target.
func loadAttackTarget(c *cli.Context) (*attacks.Target, error) {
	return attacks.LoadTarget(c.String("target"))
}

// runAttack runs one spoofer's forge under what every spoofer shares: Ctrl-C or SIGTERM
// cancels it, a progress bar counts total units (desc names it), the command line is recorded
// in the forged proof, and its error is named by command ("attack zhang").
func runAttack(c *cli.Context, command string, total int, desc string, forge func(ctx context.Context, opt attacks.Options) error) error {
	ctx, stop := interruptible()
	defer stop()
	bar := newProgress(total, desc, c.Bool("quiet") || c.Bool("json"))
	err := forge(ctx, attacks.Options{Progress: bar.Update, Command: os.Args})
	bar.Done()
	if err != nil {
		return fmt.Errorf("%s: %w", command, err)
	}
	return nil
}

// printAttackReport prints a spoofer's report: the whole report as one JSON document under
// --json, otherwise the lines of its attacks.Result followed by the spoofer's own (details may
// be nil).
func printAttackReport(c *cli.Context, report any, r *attacks.Result, details func(w io.Writer)) error {
	if c.Bool("json") {
		return printJSON(report)
	}
	w := humanOut(false)
	printAttackLines(w, r)
	if details != nil {
		details(w)
	}
	return nil
}

func printAttackLines(w io.Writer, r *attacks.Result) {
	printf(w, "forged proof (%s): %s\n", r.Attack, r.Out)
	printf(w, "  steps %d, k %d, %d checkpoints\n", r.Steps, r.K, r.Checkpoints)
	printf(w, "  cost: %d gradient passes (fwd %d, bwd %d, 2nd %d), %.4g gradient FLOPs, %.4g other FLOPs, %s\n",
		r.Cost.Backward, r.Cost.Forward, r.Cost.Backward, r.Cost.SecondOrder, r.Cost.FLOPs, r.Cost.Other, r.Cost.Wall)
	f := r.CostFraction
	src := "analytic estimate"
	if f.HonestMeasured {
		src = "target's ledger"
	}
	printf(w, "  cost fraction vs honest training of %d steps (%s): FLOPs %.4g", r.Steps, src, f.FLOPs)
	if f.WallMeasured {
		printf(w, ", wall %.4g", f.Wall)
	}
	printf(w, "\n")
	for _, k := range slices.Sorted(maps.Keys(r.Notes)) {
		printf(w, "  %s: %s\n", k, r.Notes[k])
	}
}

// attackUsage marks a bad combination of attack flags as a usage error (exit code 2).
func attackUsage(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// readAttackDRef reads a d_ref calibration file (verifier.LoadCalibration's format).
func readAttackDRef(path string) (*verifier.Distances, error) {
	c, err := verifier.LoadCalibration(path)
	if err != nil {
		return nil, err
	}
	return &c.DRef, nil
}

// attackBudget resolves --delta, --normalized, --dref and --metric into the absolute
// threshold a spoofer targets. Normalised thresholds need a d_ref file; without one the
// delta must be absolute.
func attackBudget(c *cli.Context, normalizedDefault float64) (attacks.Budget, error) {
	metric := c.String("metric")
	delta := c.Float64("delta")
	if c.Bool("normalized") {
		if c.String("dref") == "" {
			return attacks.Budget{}, attackUsage("--normalized needs --dref FILE (the honest reference distance d_ref); without a d_ref file give an absolute --delta")
		}
		if !c.IsSet("delta") {
			delta = normalizedDefault
		}
		dref, err := readAttackDRef(c.String("dref"))
		if err != nil {
			return attacks.Budget{}, err
		}
		b, err := attacks.NewBudget(metric, delta, dref)
		if err != nil {
			return attacks.Budget{}, attackUsage("%v", err)
		}
		return b, nil
	}
	if !c.IsSet("delta") {
		return attacks.Budget{}, attackUsage("give an absolute --delta (the published normalised delta %g needs --normalized --dref FILE)", normalizedDefault)
	}
	b, err := attacks.NewBudget(metric, delta, nil)
	if err != nil {
		return attacks.Budget{}, attackUsage("%v", err)
	}
	return b, nil
}

// attackBudgetFlags are the threshold flags of the spoofers that target a delta.
func attackBudgetFlags(normalizedDefault float64) []cli.Flag {
	return []cli.Flag{
		&cli.Float64Flag{Name: "delta", Usage: fmt.Sprintf("threshold the forgery targets: absolute, or a fraction of d_ref with --normalized (default %g then)", normalizedDefault)},
		&cli.BoolFlag{Name: "normalized", Usage: "--delta is a fraction of d_ref (needs --dref)"},
		&cli.StringFlag{Name: "dref", Usage: "JSON file with the honest reference distance d_ref per metric"},
		&cli.StringFlag{Name: "metric", Usage: "distance the gaps are measured in: l1, l2 or linf", Value: "l2"},
	}
}
