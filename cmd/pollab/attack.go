package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"pollab/attacks"
	_ "pollab/attacks/all" // every attack shipped with the lab registers itself
	"pollab/autodiff"
	"pollab/proof"
	"pollab/stats"
	"pollab/verifier"
)

// attackCmd groups the spoofers: one subcommand per registered attack (attacks.Names), its
// flags the attack's own (attacks.Config.Flags) beside the target, output and threshold
// flags every spoofer shares.
var attackCmd = &cli.Command{
	Name:  "attack",
	Usage: "forge a proof of learning for a stolen model (" + strings.Join(attacks.Names(), ", ") + ")",
	Description: "Each subcommand steals a final model W_T and writes a forged proof to --out. The target is\n" +
		"an honest proof (--target DIR: its final checkpoint is W_T, its manifest the claims to copy) or\n" +
		"a bare safetensors file (--target-file FILE --model SPEC --dataset NAME: a checkpoint, or a\n" +
		"PyTorch state_dict saved with safetensors under the model's names, fc1.weight, ...), whose\n" +
		"claimed training comes from --target-batch, --target-lr, --target-epochs, ... (Jia et al.'s\n" +
		"defaults otherwise); without a ledger, cost fractions use the analytic per-step cost.",
}

func init() {
	for _, name := range attacks.Names() {
		k, _ := attacks.Lookup(name)
		attackCmd.Subcommands = append(attackCmd.Subcommands, attackCommand(k))
	}
	register(attackCmd)
}

// attackCommand is `pollab attack NAME` for a registered spoofer. Its flags fill one
// configuration of the attack (a process runs one command).
func attackCommand(k attacks.Kind) *cli.Command {
	cfg := k.NewConfig()
	flags := attackTargetFlags()
	usage := "pollab attack " + k.Name + " (--target DIR | --target-file FILE --model SPEC --dataset NAME [--target-batch B --target-lr LR ...])\n      "
	if k.Budgeted {
		flags = append(flags, attackBudgetFlags(stats.ReferenceNormalizedDelta)...)
		usage += "--delta V [--normalized --dref FILE] [--metric l2] "
	}
	for _, f := range cfg.Flags() {
		flags = append(flags, &cli.GenericFlag{Name: f.Name, Usage: f.Usage, Value: f.Value})
		usage += "[--" + f.Name + " ...] "
	}
	return &cli.Command{
		Name: k.Name, Usage: k.Usage, Description: k.Description,
		UsageText: usage + "--out DIR [--json]",
		Flags:     flags,
		Action:    func(c *cli.Context) error { return attackAction(c, k, cfg) },
	}
}

// attackAction forges one proof with the configuration the flags filled.
func attackAction(c *cli.Context, k attacks.Kind, cfg attacks.Config) error {
	command := "attack " + k.Name
	if err := noArguments(c, command); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return attackUsage("%v", err)
	}
	plan := cfg.Plan()
	if len(plan.Steps) > 1 {
		return attackUsage("--steps: one forged length per run, got %v", plan.Steps)
	}
	var budget *attacks.Budget
	if k.Budgeted {
		b, err := attackBudget(c, stats.ReferenceNormalizedDelta)
		if err != nil {
			return err
		}
		budget = &b
	}
	t, err := loadAttackTarget(c)
	if err != nil {
		return err
	}
	f := attacks.Forgery{Target: t, K: plan.K, Budget: budget, Seed: c.Uint64("seed")}
	if len(plan.Steps) == 1 {
		f.Steps = plan.Steps[0]
	}
	atk, err := cfg.New(f)
	if err != nil {
		return attackUsage("%v", err)
	}
	ctx, stop := interruptible()
	defer stop()
	bar := newPhaseBar(k.Name, c.Bool("quiet") || c.Bool("json"))
	res, err := atk.Forge(ctx, t, c.String("out"), attacks.Options{Progress: bar.Update, Command: os.Args})
	bar.Done()
	if err != nil {
		return fmt.Errorf("%s: %w", command, err)
	}
	if c.Bool("json") {
		if res.Report != nil {
			return printJSON(res.Report)
		}
		return printJSON(res)
	}
	w := humanOut(false)
	printAttackLines(w, res)
	printLedger(w, res.Cost)
	for _, line := range res.Details {
		printf(w, "  %s\n", line)
	}
	return nil
}

// targetFileFlags describe a target given as a bare safetensors file; they are refused with
// --target DIR, whose manifest holds them. (The claims carry a "target-" prefix because some
// spoofers have flags of their own named batch, lr, epochs or k.)
var targetFileFlags = []string{"model", "dataset", "dtype", "target-batch", "target-lr", "target-momentum", "target-weight-decay", "target-epochs", "target-k"}

// attackTargetFlags are the flags every spoofer shares.
func attackTargetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "target", Usage: "honest proof directory whose final model is stolen"},
		&cli.StringFlag{Name: "target-file", Usage: "safetensors file holding the stolen model (instead of --target; needs --model and --dataset)"},
		&cli.StringFlag{Name: "model", Usage: "with --target-file: the model spec, e.g. mlp:784-128-10:relu"},
		&cli.StringFlag{Name: "dataset", Usage: "with --target-file: the training set's name"},
		&cli.StringFlag{Name: "dtype", Usage: "with --target-file: claimed dtype, f32 or f64 (default: the file's)"},
		&cli.IntFlag{Name: "target-batch", Usage: "with --target-file: claimed batch size", Value: attacks.DefaultBatch},
		&cli.Float64Flag{Name: "target-lr", Usage: "with --target-file: claimed learning rate", Value: attacks.DefaultLR},
		&cli.Float64Flag{Name: "target-momentum", Usage: "with --target-file: claimed SGD momentum"},
		&cli.Float64Flag{Name: "target-weight-decay", Usage: "with --target-file: claimed weight decay"},
		&cli.IntFlag{Name: "target-epochs", Usage: "with --target-file: claimed epochs of the honest run", Value: 1},
		&cli.IntFlag{Name: "target-k", Usage: "with --target-file: claimed checkpoint interval", Value: attacks.DefaultK},
		&cli.StringFlag{Name: "out", Usage: "directory of the forged proof (must not hold a proof)", Required: true},
		&cli.Uint64Flag{Name: "seed", Usage: "root seed of the forged proof", Value: 1},
		&cli.BoolFlag{Name: "json", Usage: "print the result as one JSON document"},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
	}
}

// loadAttackTarget reads --target DIR, or --target-file FILE with its model, dataset and
// claims. Flag mistakes are usage errors; a bad directory or file is bad input (both exit 2).
func loadAttackTarget(c *cli.Context) (*attacks.Target, error) {
	dir, file := c.String("target"), c.String("target-file")
	switch {
	case dir != "" && file != "":
		return nil, attackUsage("give --target DIR or --target-file FILE, not both")
	case dir != "":
		for _, name := range targetFileFlags {
			if c.IsSet(name) {
				return nil, attackUsage("--%s goes with --target-file; with --target DIR the proof's manifest gives it", name)
			}
		}
		return attacks.LoadTarget(dir)
	case file == "":
		return nil, attackUsage("give the stolen model: --target DIR (an honest proof) or --target-file FILE --model SPEC --dataset NAME")
	}
	for _, name := range []string{"model", "dataset"} {
		if c.String(name) == "" {
			return nil, attackUsage("--target-file needs --%s", name)
		}
	}
	claims := attacks.Claims{
		Hyper: proof.Hyper{
			LR: c.Float64("target-lr"), Momentum: c.Float64("target-momentum"), WeightDecay: c.Float64("target-weight-decay"),
		},
		Batch: c.Int("target-batch"), Epochs: c.Int("target-epochs"), K: c.Int("target-k"), DType: c.String("dtype"),
	}
	if claims.Batch <= 0 || claims.Epochs <= 0 || claims.K <= 0 {
		return nil, attackUsage("--target-batch %d, --target-epochs %d, --target-k %d: want positive", claims.Batch, claims.Epochs, claims.K)
	}
	if !(claims.Hyper.LR > 0) {
		return nil, attackUsage("--target-lr %v: want positive", claims.Hyper.LR)
	}
	if err := claims.Hyper.Validate(); err != nil {
		return nil, attackUsage("--target-*: %v", err)
	}
	if claims.DType != "" {
		if _, err := autodiff.ParseDType(claims.DType); err != nil {
			return nil, attackUsage("--dtype: %v", err)
		}
	}
	return attacks.LoadTargetFile(file, c.String("model"), c.String("dataset"), claims)
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
func readAttackDRef(path string) (*stats.Distances, error) {
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
