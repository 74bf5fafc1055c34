package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"pollab/attacks"
	"pollab/attacks/zhang"
)

func init() {
	attackCmd.Subcommands = append(attackCmd.Subcommands, zhangCommand())
}

func zhangCommand() *cli.Command {
	flags := append(attackTargetFlags(),
		&cli.StringFlag{Name: "variant", Usage: "I (land each step on the line), II (cancel the drift inside an interval), III (zero-gradient points)", Value: "II"},
		&cli.IntFlag{Name: "steps", Usage: "T', the forged proof's steps (0: the target's T)"},
		&cli.IntFlag{Name: "k", Usage: "checkpoint interval (0: the target's k); t = T'/k line segments"},
		&cli.IntFlag{Name: "iters", Usage: "L-BFGS iterations N per try (0: 100 for I, 10 for II and III)"},
		&cli.IntFlag{Name: "evals", Usage: "objective evaluations (gradient-matching passes) per try (0: N)"},
		&cli.Float64Flag{Name: "lambda", Usage: "weight of |r|² (negative: 1 for I and II, 0.1 for III)", Value: -1},
		&cli.IntFlag{Name: "retries", Usage: "tries per step, each on a fresh real batch", Value: zhang.DefaultRetries},
		&cli.Float64Flag{Name: "max-residual", Usage: "retry while |g - g*|² exceeds this", Value: zhang.DefaultMaxResidual},
		&cli.Float64Flag{Name: "max-r2", Usage: "retry while |r|² exceeds this (per batch of B points)", Value: zhang.DefaultMaxNormR2},
		&cli.BoolFlag{Name: "large-batch", Usage: "variant III: one crafted batch of k·B points per interval"},
		&cli.StringFlag{Name: "attacker-data", Usage: "full (the whole training set) or half (its even-indexed points)", Value: zhang.AttackerFull},
		&cli.StringFlag{Name: "second-order", Usage: "auto (symbolic when the model allows it), symbolic or central", Value: "auto"},
		&cli.IntFlag{Name: "batch", Usage: "claimed batch size (0: the target's)"},
		&cli.Float64Flag{Name: "lr", Usage: "claimed learning rate (0: the target's)"},
	)
	return &cli.Command{
		Name:  "zhang",
		Usage: "Zhang et al.'s gradient-matching spoof: crafted batches whose SGD steps follow the line W'0 -> W_T",
		UsageText: "pollab attack zhang (--target DIR | --target-file FILE --model SPEC --dataset NAME [--target-batch B --target-lr LR ...])\n      --variant I|II|III --steps T' --k K --iters N --lambda L --out DIR [--json]\n" +
			"   [--attacker-data full|half] [--seed S] [--second-order auto|symbolic|central] [--large-batch]",
		Description: "W'0 is drawn from the model's init law (KS p >= 0.01) and rank-matched to W_T; checkpoints lie on the\n" +
			"straight line W'0 -> W_T. Every step trains on a crafted batch: a real batch plus a perturbation r\n" +
			"optimised with L-BFGS on |grad_W L(W; clamp(X+r), y) - g*|² + lambda |r|². The forged proof carries\n" +
			"the crafted points in its payload; an honest replay of them is what the verifier re-executes.",
		Flags:  flags,
		Action: zhangAction,
	}
}

func zhangAction(c *cli.Context) error {
	if err := noArguments(c, "attack zhang"); err != nil {
		return err
	}
	variant, err := zhang.ParseVariant(c.String("variant"))
	if err != nil {
		return attackUsage("--variant: %v", err)
	}
	switch c.String("attacker-data") {
	case zhang.AttackerFull, zhang.AttackerHalf:
	default:
		return attackUsage("--attacker-data %q: want full or half", c.String("attacker-data"))
	}
	switch c.String("second-order") {
	case "auto", "symbolic", "central":
	default:
		return attackUsage("--second-order %q: want auto, symbolic or central", c.String("second-order"))
	}
	for _, name := range []string{"steps", "k", "iters", "evals", "batch"} {
		if c.Int(name) < 0 {
			return attackUsage("--%s %d: want >= 0", name, c.Int(name))
		}
	}
	if c.Int("retries") < 1 {
		return attackUsage("--retries %d: want >= 1", c.Int("retries"))
	}
	if !(c.Float64("max-residual") > 0) || !(c.Float64("max-r2") > 0) {
		return attackUsage("--max-residual and --max-r2 must be positive")
	}
	if c.Float64("lr") < 0 {
		return attackUsage("--lr %v: want >= 0", c.Float64("lr"))
	}
	if c.Bool("large-batch") && variant != zhang.VariantIII {
		return attackUsage("--large-batch is a variant III option")
	}
	t, err := loadAttackTarget(c)
	if err != nil {
		return err
	}
	cfg := zhang.Config{
		Variant: variant, Steps: c.Int("steps"), K: c.Int("k"), Iters: c.Int("iters"), Evals: c.Int("evals"),
		Lambda: c.Float64("lambda"), Retries: c.Int("retries"),
		MaxResidual: c.Float64("max-residual"), MaxNormR2: c.Float64("max-r2"),
		LargeBatch: c.Bool("large-batch"), AttackerData: c.String("attacker-data"),
		SecondOrder: c.String("second-order"), Seed: c.Uint64("seed"),
		Batch: c.Int("batch"), LR: c.Float64("lr"),
	}
	steps := cfg.Defaults(t).Steps
	var rep *zhang.Report
	err = runAttack(c, "attack zhang", steps, "zhang/"+variant.String(), func(ctx context.Context, opt attacks.Options) (err error) {
		rep, err = (&zhang.Attack{Config: cfg}).Run(ctx, t, c.String("out"), opt)
		return err
	})
	if err != nil {
		return err
	}
	return printAttackReport(c, rep, &rep.Result, func(w io.Writer) {
		printLedger(w, rep.Cost)
		printf(w, "  W'0: %d KS draws, |W_T - W'0|_2 = %.4g, line step %.4g (l2)\n", rep.InitDraws, rep.InitToWT, rep.LineStepL2)
		printf(w, "  crafting (%s, N %d, lambda %g): %d tries, %d of %d crafted batches over the retry thresholds\n",
			rep.SecondOrder, rep.Iters, rep.Lambda, rep.Tries, rep.Failures, len(rep.StepStats))
		if retries := cfg.Defaults(t).Retries; retryCapped(rep.StepStats, retries) > 0 {
			printf(w, "  retry cap reached in %d of %d steps (%d tries each): the budget, not the crafting, sets this cost\n",
				retryCapped(rep.StepStats, retries), len(rep.StepStats), retries)
		}
		printf(w, "  residual |g - g*|²: median %.4g, max %.4g (real batches before crafting: median %.4g); |r|² max %.4g\n",
			rep.Residual.Median, rep.Residual.Max, rep.Start.Median, rep.NormR2.Max)
		printf(w, "  max replay distance to the next checkpoint: %s\n", rep.MaxReplay)
		printf(w, "  %.3g gradient-equivalents per forged step; %s (FLOPs)", rep.GradEquivPerStep, breakEvenText(rep.BreakEven))
		if rep.BreakEvenWall > 0 {
			printf(w, ", %s (wall)", breakEvenText(rep.BreakEvenWall))
		}
		printf(w, "\n")
	})
}

// retryCapped counts the steps whose crafting used every allowed try.
func retryCapped(steps []zhang.StepStats, retries int) int {
	n := 0
	for _, s := range steps {
		if retries > 0 && s.Tries >= retries {
			n++
		}
	}
	return n
}

// breakEvenText states a break-even fraction of T; at or above 1 the forgery is cheaper than
// honest training at every T' <= T, which a fraction above 1 would hide.
func breakEvenText(f float64) string {
	if f >= 1 {
		return "no break-even: cheaper than honest training at every T' <= T"
	}
	return fmt.Sprintf("break-even T' = %.4g of T", f)
}
