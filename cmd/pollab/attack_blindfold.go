package main

import (
	"context"
	"io"

	"github.com/urfave/cli/v2"

	"pollab/attacks"
	"pollab/attacks/blindfold"
	"pollab/stats"
)

func init() {
	attackCmd.Subcommands = append(attackCmd.Subcommands, blindfoldCommand())
}

func blindfoldCommand() *cli.Command {
	flags := append(attackTargetFlags(), attackBudgetFlags(stats.ReferenceNormalizedDelta)...)
	flags = append(flags,
		&cli.IntFlag{Name: "epochs", Usage: "E, the attacker's epochs", Value: blindfold.DefaultEpochs},
		&cli.IntFlag{Name: "q", Usage: "genuinely computed intervals at the start of each epoch", Value: blindfold.DefaultQ},
		&cli.IntFlag{Name: "k", Usage: "checkpoint interval", Value: blindfold.DefaultK},
		&cli.IntFlag{Name: "steps", Usage: "S, interpolated steps per epoch, a multiple of k (0: the rest of one claimed epoch, floor(N/B/k)·k − q·k)"},
		&cli.StringFlag{Name: "interp-lr", Usage: "lr claimed by interpolated checkpoints: manifest (the task's schedule), tiny (infinitesimal) or genuine", Value: blindfold.InterpManifest},
	)
	return &cli.Command{
		Name:      "blindfold",
		Usage:     "Fang et al.'s Blindfold Top-Q: q genuine, rescaled intervals lead each epoch, the rest interpolated",
		UsageText: "pollab attack blindfold (--target DIR | --target-file FILE --model SPEC --dataset NAME [--target-batch B --target-lr LR ...])\n      --epochs E --q q --k K --steps S --delta V --out DIR [--json]",
		Description: "Each epoch starts with q·k honestly computed SGD steps on recorded batches whose claimed lr makes\n" +
			"them the epoch's largest updates (reproducible by re-execution), followed by checkpoints interpolated\n" +
			"to the epoch's anchor on the line W'0 -> W_T with gaps <= delta. A verifier re-executing the top Q <= q\n" +
			"updates per epoch accepts. Published defaults E = 200, q = 5, k = 10, S = 200; S defaults here to the\n" +
			"rest of one claimed epoch so the attacker's epochs are the verifier's.",
		Flags:  flags,
		Action: blindfoldAction,
	}
}

func blindfoldAction(c *cli.Context) error {
	if err := noArguments(c, "attack blindfold"); err != nil {
		return err
	}
	for _, name := range []string{"epochs", "q", "k"} {
		if c.Int(name) <= 0 {
			return attackUsage("--%s %d: want > 0", name, c.Int(name))
		}
	}
	if c.Int("steps") < 0 || c.Int("steps")%c.Int("k") != 0 {
		return attackUsage("--steps %d: want a non-negative multiple of --k %d", c.Int("steps"), c.Int("k"))
	}
	switch c.String("interp-lr") {
	case blindfold.InterpManifest, blindfold.InterpTiny, blindfold.InterpGenuine:
	default:
		return attackUsage("--interp-lr %q: want manifest, tiny or genuine", c.String("interp-lr"))
	}
	budget, err := attackBudget(c, stats.ReferenceNormalizedDelta)
	if err != nil {
		return err
	}
	t, err := loadAttackTarget(c)
	if err != nil {
		return err
	}
	cfg := blindfold.Config{Epochs: c.Int("epochs"), Q: c.Int("q"), K: c.Int("k"), SpoofSteps: c.Int("steps"),
		Budget: budget, Seed: c.Uint64("seed"), InterpLR: c.String("interp-lr")}.Defaults(t)
	var rep *blindfold.Report
	err = runAttack(c, "attack blindfold", cfg.Steps()/cfg.K+1, "blindfold", func(ctx context.Context, opt attacks.Options) (err error) {
		rep, err = (&blindfold.Attack{Config: cfg}).Run(ctx, t, c.String("out"), opt)
		return err
	})
	if err != nil {
		return err
	}
	return printAttackReport(c, rep, &rep.Result, func(w io.Writer) {
		printf(w, "  %d genuine intervals (%d SGD steps, %d re-runs), update target %.4g; largest interpolated gap %.4g\n",
			len(rep.GenuineIntervals), rep.GenuineSteps, rep.Redos, rep.Target, rep.MaxGap)
	})
}
