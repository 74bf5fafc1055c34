package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"pollab/attacks"
	"pollab/attacks/infinitesimal"
	"pollab/stats"
)

func init() {
	attackCmd.Subcommands = append(attackCmd.Subcommands, infinitesimalCommand())
}

func infinitesimalCommand() *cli.Command {
	flags := append(attackTargetFlags(), attackBudgetFlags(stats.ReferenceNormalizedDelta)...)
	flags = append(flags,
		&cli.IntFlag{Name: "steps", Usage: "T', the forged proof's steps (raised when the gaps need more)", Value: infinitesimal.DefaultSteps},
		&cli.IntFlag{Name: "k", Usage: "checkpoint interval", Value: infinitesimal.DefaultK},
		&cli.BoolFlag{Name: "check-first", Usage: "re-execute the first interval to measure the drift (k gradient passes, recorded)"},
	)
	return &cli.Command{
		Name:      "infinitesimal",
		Usage:     "Fang et al.'s infinitesimal update: checkpoints on the line W'0 -> W_T with gaps <= delta and a tiny claimed lr",
		UsageText: "pollab attack infinitesimal (--target DIR | --target-file FILE --model SPEC --dataset NAME [--target-batch B --target-lr LR ...])\n      --delta V [--normalized --dref FILE] [--metric l2] --k K --steps T' --out DIR [--json]",
		Description: "W'0 is drawn from the init law (KS p >= 0.01) and rank-matched to W_T; checkpoints lie on the line\n" +
			"W'0 -> W_T, as many as every gap <= delta needs, over a real batch schedule. Every checkpoint claims an\n" +
			"lr so small (from an analytic gradient-norm bound) that re-executing any interval barely moves: no\n" +
			"gradient is computed. Published defaults: T' = 10,000, k = 10, l2, normalised delta 0.008.",
		Flags:  flags,
		Action: infinitesimalAction,
	}
}

func infinitesimalAction(c *cli.Context) error {
	if err := noArguments(c, "attack infinitesimal"); err != nil {
		return err
	}
	if c.Int("steps") <= 0 || c.Int("k") <= 0 {
		return attackUsage("--steps %d and --k %d must be positive", c.Int("steps"), c.Int("k"))
	}
	budget, err := attackBudget(c, stats.ReferenceNormalizedDelta)
	if err != nil {
		return err
	}
	t, err := loadAttackTarget(c)
	if err != nil {
		return err
	}
	cfg := infinitesimal.Config{Budget: budget, Steps: c.Int("steps"), K: c.Int("k"), Seed: c.Uint64("seed"),
		CheckFirst: c.Bool("check-first")}
	var res *attacks.Result
	err = runAttack(c, "attack infinitesimal", cfg.Steps/cfg.K+1, "infinitesimal", func(ctx context.Context, opt attacks.Options) (err error) {
		res, err = (&infinitesimal.Attack{Config: cfg}).Forge(ctx, t, c.String("out"), opt)
		return err
	})
	if err != nil {
		return err
	}
	return printAttackReport(c, res, res, nil)
}
