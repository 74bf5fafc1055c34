package zhang

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/data"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
)

// Published retry rule (Zhang et al.'s reference code): draw a fresh real batch while the
// matching residual exceeds 15 or |r|² exceeds 20, at most 30 tries.
const (
	DefaultRetries     = 30
	DefaultMaxResidual = 15
	DefaultMaxNormR2   = 20
)

// Attacker-data modes.
const (
	AttackerFull = "full" // the whole training set
	AttackerHalf = "half" // the even-indexed points only: a disjoint half of the training set
)

// Point modes: what a forged step's batch is made of.
const (
	PointsCrafted = "crafted" // real points plus an optimised perturbation, in the payload
	// PointsReal restricts the attacker to real training points, so a membership check
	// passes: each step keeps, of Retries real batches drawn as the retry rule draws them,
	// the one whose gradient best matches g* (crafting by selection: one gradient each, no
	// perturbation, no payload).
	PointsReal = "real"
)

// Config is one run of the attack. Zero values take the published defaults (see Defaults).
type Config struct {
	Variant Variant
	Steps   int // T', the forged proof's number of updates (0: the target's T)
	K       int // checkpoint interval k (0: the target's)
	// Iters is the L-BFGS iteration budget N per try (0: 100 for I, 10 for II and III);
	// Evals bounds objective evaluations per try (0: N, the paper's 3N+1 accounting).
	Iters, Evals int
	// Lambda weighs |r|² (negative: 1 for I and II, 0.1 for III).
	Lambda float64
	// Retry rule: Retries tries per step (0: 30), fresh real batch while the residual
	// |g - g*|² > MaxResidual (0: 15) or |r|² > MaxNormR2 (0: 20; per batch of B points).
	Retries                int
	MaxResidual, MaxNormR2 float64
	// LargeBatch (variant III only) crafts one batch of k·B points per interval whose mean
	// gradient is zero, and replays it as the interval's k batches.
	LargeBatch bool
	// AttackerData is AttackerFull (default) or AttackerHalf.
	AttackerData string
	// SecondOrder is "auto" (default: symbolic when the model allows it, else central),
	// "symbolic" or "central".
	SecondOrder string
	Seed        uint64
	// Batch is the claimed batch size (0: the target's); LR the claimed learning rate
	// (0: the target's). Momentum, weight decay and the lr schedule are the target's.
	Batch int
	LR    float64
	// InitAlpha is the KS level W'0 must pass (0: 0.01).
	InitAlpha float64
	// Init is where the line starts (attacks.InitForged when empty; attacks.InitCommitted:
	// the honest init of the committed seed, so a seed commitment's W0 check passes).
	Init string
	// Points is PointsCrafted (default) or PointsReal.
	Points string
}

// Defaults returns c with every zero field set to its published default, for target t.
func (c Config) Defaults(t *attacks.Target) Config {
	c.Variant = cmp.Or(c.Variant, VariantII)
	c.Steps = cmp.Or(c.Steps, t.Manifest.Steps)
	c.K = cmp.Or(c.K, t.Manifest.K)
	c.Iters = cmp.Or(c.Iters, c.Variant.defaultIters())
	if c.Lambda < 0 {
		c.Lambda = c.Variant.defaultLambda()
	}
	c.Retries = cmp.Or(c.Retries, DefaultRetries)
	c.MaxResidual = cmp.Or(c.MaxResidual, DefaultMaxResidual)
	c.MaxNormR2 = cmp.Or(c.MaxNormR2, DefaultMaxNormR2)
	c.AttackerData = cmp.Or(c.AttackerData, AttackerFull)
	c.SecondOrder = cmp.Or(c.SecondOrder, "auto")
	c.Batch = cmp.Or(c.Batch, t.Manifest.Batch)
	c.LR = cmp.Or(c.LR, t.Manifest.Optimizer.LR)
	c.InitAlpha = cmp.Or(c.InitAlpha, stats.DefaultInitAlpha)
	c.Points = cmp.Or(c.Points, PointsCrafted)
	return c
}

// Attack is Zhang et al.'s spoofer behind the shared attacks.Attack interface.
type Attack struct{ Config Config }

// Name is "zhang".
func (*Attack) Name() string { return "zhang" }

// Forge runs the attack and returns the shared Result (Run returns the full Report).
func (a *Attack) Forge(ctx context.Context, t *attacks.Target, out string, opt attacks.Options) (*attacks.Result, error) {
	r, err := a.Run(ctx, t, out, opt)
	if err != nil {
		return nil, err
	}
	r.Result.Report = r
	r.Details = r.lines(a.Config.Defaults(t).Retries)
	return &r.Result, nil
}

// lines describe the run for a human reader; retries is the retry rule's cap.
func (r *Report) lines(retries int) []string {
	out := []string{
		fmt.Sprintf("W'0: %d KS draws, |W_T - W'0|_2 = %.4g, line step %.4g (l2)", r.InitDraws, r.InitToWT, r.LineStepL2),
		fmt.Sprintf("crafting (%s, N %d, lambda %g): %d tries, %d of %d crafted batches over the retry thresholds",
			r.SecondOrder, r.Iters, r.Lambda, r.Tries, r.Failures, len(r.StepStats)),
	}
	if n := retryCapped(r.StepStats, retries); n > 0 {
		out = append(out, fmt.Sprintf("retry cap reached in %d of %d steps (%d tries each): the budget, not the crafting, sets this cost",
			n, len(r.StepStats), retries))
	}
	out = append(out,
		fmt.Sprintf("residual |g - g*|²: median %.4g, max %.4g (real batches before crafting: median %.4g); |r|² max %.4g",
			r.Residual.Median, r.Residual.Max, r.Start.Median, r.NormR2.Max),
		fmt.Sprintf("max replay distance to the next checkpoint: %s", r.MaxReplay))
	be := fmt.Sprintf("%.3g gradient-equivalents per forged step; %s (FLOPs)", r.GradEquivPerStep, breakEvenText(r.BreakEven))
	if r.BreakEvenWall > 0 {
		be += fmt.Sprintf(", %s (wall)", breakEvenText(r.BreakEvenWall))
	}
	return append(out, be)
}

// retryCapped counts the steps whose crafting used every allowed try.
func retryCapped(steps []StepStats, retries int) int {
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

// StepStats is what crafting one step's batch took and reached.
type StepStats struct {
	Step          int     `json:"step"`
	Tries         int     `json:"tries"`
	Passed        bool    `json:"passed"`         // some try met the retry thresholds
	StartResidual float64 `json:"start_residual"` // |g - g*|² of the kept try's real batch (r = 0)
	Residual      float64 `json:"residual"`       // |g - g*|² of the kept crafted batch
	NormR2        float64 `json:"norm_r2"`        // |r|² of the kept crafted batch
	TargetNorm    float64 `json:"target_norm"`    // |g*|
	Evaluations   int     `json:"evaluations"`    // objective evaluations over all tries
}

// IntervalStats compares the honest replay of an interval's crafted batches (what the
// verifier re-executes) with the forged checkpoint at its end.
type IntervalStats struct {
	Index  int             `json:"index"`
	Start  int             `json:"start"`
	End    int             `json:"end"`
	Replay stats.Distances `json:"replay"`  // d(replayed end, next line checkpoint)
	Update stats.Distances `json:"update"`  // d(start, next checkpoint): one line step
	Drift  stats.Distances `json:"drift"`   // d(start, replayed end): how far the replay moved
	LastLR float64         `json:"last_lr"` // lr in force at the interval's end
}

// Summary is a distribution's mean, median and maximum.
type Summary struct {
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Mean: sum / float64(len(s)), Median: med, Max: s[len(s)-1]}
}

// Report is the full outcome of a run.
type Report struct {
	attacks.Result
	Variant      string      `json:"variant"`
	SecondOrder  string      `json:"second_order"`
	AttackerData string      `json:"attacker_data"`
	Iters        int         `json:"iters"`
	Lambda       float64     `json:"lambda"`
	LargeBatch   bool        `json:"large_batch"`
	Hyper        proof.Hyper `json:"hyper"` // claimed
	Batch        int         `json:"batch"`

	InitDraws  int     `json:"init_draws"`   // KS draws of W'0 over all tensors
	InitToWT   float64 `json:"init_to_wt"`   // |W_T - W'0|₂
	LineStepL2 float64 `json:"line_step_l2"` // |W_T - W'0|₂ / t

	Tries    int     `json:"tries"`    // crafting tries over all steps
	Failures int     `json:"failures"` // steps (or large batches) where no try passed
	Residual Summary `json:"residual"` // |g - g*|² of the kept batches
	Start    Summary `json:"start_residual"`
	NormR2   Summary `json:"norm_r2"`

	MaxReplay stats.Distances `json:"max_replay"` // max over intervals of IntervalStats.Replay
	Intervals []IntervalStats `json:"intervals"`
	StepStats []StepStats     `json:"step_stats"`

	// GradEquivPerStep is the attack's gradient FLOPs per forged step in units of one
	// training-step gradient (3·F·B): the paper's "3N+1".
	GradEquivPerStep float64 `json:"grad_equiv_per_step"`
	// BreakEven is the honest per-step cost over the spoof's per-step cost (FLOPs): spoofing
	// T' steps is cheaper than honestly training T steps while T' < BreakEven·T.
	BreakEven     float64       `json:"break_even_fraction"`
	BreakEvenWall float64       `json:"break_even_fraction_wall"` // the same in wall time (0 if unknown)
	Wall          time.Duration `json:"wall_ns"`
}

// forger holds one run's state.
type forger struct {
	cfg    Config
	t      *attacks.Target
	hyper  proof.Hyper
	dt     autodiff.DType
	mode   autodiff.SecondOrder
	dim    int
	pool   []int32 // the attacker's training points
	craft  *autodiff.Engine
	ledger *autodiff.Ledger
	lim    LBFGSLimits
}

func (c Config) validate(t *attacks.Target) error {
	switch {
	case c.Variant < VariantI || c.Variant > VariantIII:
		return fmt.Errorf("variant %d: want I, II or III", int(c.Variant))
	case c.Steps < 1:
		return fmt.Errorf("steps %d: want >= 1", c.Steps)
	case c.K < 1:
		return fmt.Errorf("k %d: want >= 1", c.K)
	case c.Iters < 1:
		return fmt.Errorf("iters %d: want >= 1", c.Iters)
	case c.Evals < 0:
		return fmt.Errorf("evals %d: want >= 0", c.Evals)
	case math.IsNaN(c.Lambda) || math.IsInf(c.Lambda, 0) || c.Lambda < 0:
		return fmt.Errorf("lambda %v: want a finite number >= 0", c.Lambda)
	case c.Retries < 1:
		return fmt.Errorf("retries %d: want >= 1", c.Retries)
	case !(c.MaxResidual > 0) || !(c.MaxNormR2 > 0):
		return fmt.Errorf("retry thresholds residual %v, |r|² %v: want positive", c.MaxResidual, c.MaxNormR2)
	case c.Batch < 1:
		return fmt.Errorf("batch %d: want >= 1", c.Batch)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("claimed lr %v: want a finite positive number", c.LR)
	case c.LargeBatch && c.Variant != VariantIII:
		return fmt.Errorf("large batch is a variant III option (g* = 0), not %s", c.Variant)
	case c.AttackerData != AttackerFull && c.AttackerData != AttackerHalf:
		return fmt.Errorf("attacker data %q: want %s or %s", c.AttackerData, AttackerFull, AttackerHalf)
	case c.Points != PointsCrafted && c.Points != PointsReal:
		return fmt.Errorf("points %q: want %s or %s", c.Points, PointsCrafted, PointsReal)
	case c.Points == PointsReal && c.LargeBatch:
		return errors.New("large batch crafts points: not with real points")
	}
	if t == nil || t.Model == nil || t.Manifest == nil || t.Train == nil {
		return errors.New("incomplete target")
	}
	return nil
}

// secondOrder resolves the auto|symbolic|central choice for the target's model.
func (c Config) secondOrder(t *attacks.Target) (autodiff.SecondOrder, error) {
	switch c.SecondOrder {
	case "auto":
		if t.Model.Symbolic2nd() {
			return autodiff.Symbolic, nil
		}
		return autodiff.CentralDiff, nil
	case "symbolic":
		if !t.Model.Symbolic2nd() {
			return 0, fmt.Errorf("second order: model %s does not support symbolic double backprop (use central)", t.Model.Spec())
		}
		return autodiff.Symbolic, nil
	case "central":
		return autodiff.CentralDiff, nil
	}
	return 0, fmt.Errorf("second order %q: want auto, symbolic or central", c.SecondOrder)
}

// Run forges a proof for t.Final into out and reports what it took.
//
// Per interval i (steps ik..min((i+1)k, T')): the start checkpoint is line point ik/T' with
// the momentum buffer and lr an honest replay of the previous interval ends with; each
// step's batch is crafted against that step's g* at the replayed state, then stepped with
// prover.Stepper exactly as the verifier re-executes it (same code, dtype, payload bytes);
// the end checkpoint is the next line point. So a re-execution of any interval reproduces
// this replay bit for bit, and its distance to the end checkpoint is IntervalStats.Replay.
func (a *Attack) Run(ctx context.Context, t *attacks.Target, out string, opt attacks.Options) (*Report, error) {
	began := time.Now()
	if t == nil || t.Manifest == nil {
		return nil, errors.New("zhang: no target")
	}
	cfg := a.Config.Defaults(t)
	if err := cfg.validate(t); err != nil {
		return nil, fmt.Errorf("zhang: %w", err)
	}
	mode, err := cfg.secondOrder(t)
	if err != nil {
		return nil, fmt.Errorf("zhang: %w", err)
	}
	f := &forger{cfg: cfg, t: t, dt: t.DType, mode: mode, ledger: autodiff.NewLedger(),
		lim: LBFGSLimits{Iterations: cfg.Iters, Evaluations: cfg.Evals}}
	f.hyper = t.Manifest.Hyper()
	f.hyper.LR = cfg.LR
	f.hyper.Milestones = slices.Clone(f.hyper.Milestones)
	if err := f.hyper.Validate(); err != nil {
		return nil, fmt.Errorf("zhang: claimed hyperparameters: %w", err)
	}
	f.dim = t.Train.Dim()
	for i := 0; i < t.Train.Len(); i++ {
		if cfg.AttackerData == AttackerFull || i%2 == 0 {
			f.pool = append(f.pool, int32(i))
		}
	}
	unit := cfg.Batch
	if cfg.LargeBatch {
		unit = cfg.Batch * cfg.K
	}
	if unit > len(f.pool) {
		return nil, fmt.Errorf("zhang: a crafted batch of %d points needs that many distinct points, the attacker holds %d", unit, len(f.pool))
	}
	// Crafting always runs in float64: central differences need it, and the replay below
	// (in the claimed dtype) decides where the forged run really lands.
	f.craft = autodiff.NewEngine(t.Model, autodiff.Float64, f.ledger)

	// The forged W'0 draws from its own sub-seed; the committed one is the honest init of
	// the seed the proof records. Neither is counted in the ledger (the lab never counted
	// Zhang's init draws: negligible beside crafting, and counting them now would move
	// committed costs).
	initSeed := data.SubSeed(cfg.Seed, "zhang/init", 0)
	if attacks.InitModeOr(cfg.Init) == attacks.InitCommitted {
		initSeed = cfg.Seed
	}
	init0, err := t.StartLine(cfg.Init, initSeed, cfg.InitAlpha, nil)
	if err != nil {
		return nil, fmt.Errorf("zhang: initialization: %w", err)
	}
	w0, draws := init0.W0, init0.Draws
	line := attacks.NewLine(w0, t.Final)

	rep := &Report{
		Variant: cfg.Variant.String(), SecondOrder: mode.String(), AttackerData: cfg.AttackerData,
		Iters: cfg.Iters, Lambda: cfg.Lambda, LargeBatch: cfg.LargeBatch, Hyper: f.hyper, Batch: cfg.Batch,
		InitDraws: draws,
	}
	rep.InitToWT = stats.Distance(w0, t.Final).L2
	intervals := (cfg.Steps + cfg.K - 1) / cfg.K
	rep.LineStepL2 = rep.InitToWT / float64(intervals)

	forged, err := t.CreateForged(out, attacks.ForgedSpec{
		Producer: "attack:zhang/" + cfg.Variant.String(), Steps: cfg.Steps, K: cfg.K, Seed: cfg.Seed,
		Extra: map[string]string{
			"attack":        "zhang",
			"variant":       cfg.Variant.String(),
			"attacker_data": cfg.AttackerData,
			"batch_seed":    "data.SubSeed(seed, \"zhang/batch\", step)",
		},
		Crafted: true, Batch: cfg.Batch, Hyper: &f.hyper,
		CommittedInit: attacks.InitModeOr(cfg.Init) == attacks.InitCommitted,
	})
	if err != nil {
		return nil, fmt.Errorf("zhang: %w", err)
	}
	defer forged.Close()
	stepper := prover.NewStepper(t.Model, f.dt, t.Train, forged.Payload, f.ledger)

	n := t.Model.NumParams()
	// The claimed run starts at the schedule's lr of step 0 (a milestone at 0 applies).
	// W'0's buffers (running statistics) are W_T's (or the committed init's); the replay
	// trains them as the verifier's re-execution will, so every checkpoint stores the
	// replay's buffers, like its momentum. Crafting (GradMatch) never changes them.
	st := &prover.State{Step: 0, LR: f.hyper.LRAt(0), Params: slices.Clone(w0), Buffers: slices.Clone(init0.Buffers)}
	if f.hyper.Momentum != 0 {
		st.Momentum = make([]float64, n)
	}
	if err := forged.WriteCheckpoint(0, st.LR, st.Params, st.Momentum, st.Buffers); err != nil {
		return nil, fmt.Errorf("zhang: %w", err)
	}
	gstar := make([]float64, n)
	start := make([]float64, n)
	aim := make([]float64, n)
	var residuals, starts, norms []float64

	for iv := 0; iv < intervals; iv++ {
		lo, hi := iv*cfg.K, min((iv+1)*cfg.K, cfg.Steps)
		copy(start, st.Params)
		var big *crafted
		if cfg.LargeBatch {
			// g* = 0 for the mean gradient of the whole interval's points.
			clear(gstar)
			if big, err = f.craftBatch(ctx, st.Params, gstar, lo, hi-lo); err != nil {
				return nil, fmt.Errorf("zhang: interval %d: %w", iv, err)
			}
			rep.noteCraft(big, lo, 0)
		}
		for s := lo; s < hi; s++ {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("zhang: step %d: %w", s, err)
			}
			var c *crafted
			if big != nil {
				c = big.slice(s-lo, cfg.Batch, f.dim)
			} else {
				switch cfg.Variant {
				case VariantI:
					line.At(s+1, cfg.Steps, aim)
					err = landingGradient(gstar, st.Params, aim, st.Momentum, st.LR, f.hyper)
				case VariantII:
					err = landingGradient(gstar, st.Params, start, st.Momentum, st.LR, f.hyper)
				case VariantIII:
					clear(gstar)
				}
				if err != nil {
					return nil, fmt.Errorf("zhang: step %d: %w", s, err)
				}
				if c, err = f.craftBatch(ctx, st.Params, gstar, s, 1); err != nil {
					return nil, fmt.Errorf("zhang: step %d: %w", s, err)
				}
				rep.noteCraft(c, s, norm2(gstar))
			}
			residuals = append(residuals, c.res.Residual)
			starts = append(starts, c.res.StartResid)
			norms = append(norms, c.res.NormR2)
			row := c.rows
			if row != nil {
				err = forged.AppendRows(row)
			} else {
				row, err = forged.AppendBatch(c.points, c.labels)
			}
			if err != nil {
				return nil, fmt.Errorf("zhang: step %d: %w", s, err)
			}
			// Replayed exactly as the verifier re-executes it, augmentation included when
			// the claimed run augments.
			_, augSeed, augment := forged.Batch(s)
			if err := stepper.Step(st, f.hyper, row, augSeed, augment); err != nil {
				return nil, fmt.Errorf("zhang: replaying step %d: %w", s, err)
			}
			opt.Report(s+1, cfg.Steps, fmt.Sprintf("zhang/%s res %.3g", cfg.Variant, c.res.Residual))
		}
		line.At(hi, cfg.Steps, aim)
		f.dt.Round(aim)
		ivs := IntervalStats{Index: iv, Start: lo, End: hi,
			Replay: stats.Distance(st.Params, aim),
			Update: stats.Distance(start, aim),
			Drift:  stats.Distance(start, st.Params),
			LastLR: st.LR,
		}
		rep.Intervals = append(rep.Intervals, ivs)
		rep.MaxReplay = rep.MaxReplay.Max(ivs.Replay)
		f.ledger.AddOther(3*5*float64(n), 0) // three distances, about 5 FLOPs per parameter each
		// The forged checkpoint: the line point, with the replay's momentum, buffers and lr.
		copy(st.Params, aim)
		if err := forged.WriteCheckpoint(hi, st.LR, st.Params, st.Momentum, st.Buffers); err != nil {
			return nil, fmt.Errorf("zhang: %w", err)
		}
	}
	// The ledger's wall is engine time; add the rest (L-BFGS bookkeeping, I/O) so the
	// recorded wall is the attack's.
	if other := time.Since(began) - f.ledger.Cost().Wall; other > 0 {
		f.ledger.AddOther(0, other)
	}
	cost := f.ledger.Cost()
	res, err := forged.Finish("zhang", out, cost, opt, nil)
	if err != nil {
		return nil, fmt.Errorf("zhang: %w", err)
	}
	rep.Residual, rep.Start, rep.NormR2 = summarize(residuals), summarize(starts), summarize(norms)
	rep.Wall = time.Since(began)
	rep.finish(res, t, cfg)
	return rep, nil
}

// noteCraft records one crafting outcome (a step, or a large batch starting at step s).
func (r *Report) noteCraft(c *crafted, s int, targetNorm2 float64) {
	r.Tries += c.tries
	if !c.passed {
		r.Failures++
	}
	r.StepStats = append(r.StepStats, StepStats{Step: s, Tries: c.tries, Passed: c.passed,
		StartResidual: c.res.StartResid, Residual: c.res.Residual, NormR2: c.res.NormR2,
		TargetNorm: math.Sqrt(targetNorm2), Evaluations: c.evals})
}

// finish takes the shared Result of the forged-proof writer and adds the cost comparison.
func (r *Report) finish(res *attacks.Result, t *attacks.Target, cfg Config) {
	r.Result = *res
	cost := res.Cost
	stepFLOPs := t.Model.FLOPsPerSample() * float64(cfg.Batch)
	r.GradEquivPerStep = cost.GradEquivalents(stepFLOPs) / float64(cfg.Steps)
	if fr := r.CostFraction.FLOPs; fr > 0 {
		r.BreakEven = 1 / fr
	}
	if fr := r.CostFraction.Wall; r.CostFraction.WallMeasured && fr > 0 {
		r.BreakEvenWall = 1 / fr
	}
	r.Notes = map[string]string{
		"variant":             r.Variant,
		"second_order":        r.SecondOrder,
		"attacker_data":       r.AttackerData,
		"iters":               strconv.Itoa(r.Iters),
		"lambda":              strconv.FormatFloat(r.Lambda, 'g', -1, 64),
		"claimed_lr":          strconv.FormatFloat(r.Hyper.LR, 'g', -1, 64),
		"tries":               strconv.Itoa(r.Tries),
		"failures":            strconv.Itoa(r.Failures),
		"residual_median":     fmt.Sprintf("%.4g", r.Residual.Median),
		"residual_max":        fmt.Sprintf("%.4g", r.Residual.Max),
		"max_replay_l2":       fmt.Sprintf("%.4g", r.MaxReplay.L2),
		"max_replay_linf":     fmt.Sprintf("%.4g", r.MaxReplay.Linf),
		"grad_equiv_per_step": fmt.Sprintf("%.3g", r.GradEquivPerStep),
		"break_even_fraction": fmt.Sprintf("%.4g", r.BreakEven),
		"init":                attacks.InitModeOr(cfg.Init),
		"points":              cfg.Points,
	}
}

func norm2(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += float64(x * x)
	}
	return s
}

// crafted is one crafted unit: nb batches of B points with their labels.
type crafted struct {
	points []float64
	labels []int
	rows   []int32 // PointsReal: the training points themselves (points and labels unused)
	res    *Crafted
	tries  int
	evals  int
	passed bool
}

// slice returns batch j of a large crafted unit (sharing its memory).
func (c *crafted) slice(j, b, dim int) *crafted {
	return &crafted{points: c.points[j*b*dim : (j+1)*b*dim], labels: c.labels[j*b : (j+1)*b], res: c.res, passed: c.passed}
}

// craftBatch crafts nb batches (B points each) at params against gstar with the retry rule:
// fresh real batches, drawn from the attacker's points by a PCG seeded with
// data.SubSeed(seed, "zhang/batch", step), until a try passes both thresholds or the tries
// run out, keeping the try with the smallest residual.
func (f *forger) craftBatch(ctx context.Context, params, gstar []float64, step, nb int) (*crafted, error) {
	size := nb * f.cfg.Batch
	rng := data.NewRNG(data.SubSeed(f.cfg.Seed, "zhang/batch", step))
	maxNorm := f.cfg.MaxNormR2 * float64(nb)
	base := make([]float64, size*f.dim)
	labels := make([]int, size)
	if f.cfg.Points == PointsReal {
		return f.selectBatch(ctx, rng, params, gstar, base, labels)
	}
	var best *crafted
	for try := 0; try < f.cfg.Retries; try++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f.draw(rng, base, labels, nil)
		obj := &Objective{Engine: f.craft, Mode: f.mode, Params: params, Base: base, Labels: labels,
			Target: gstar, Lambda: f.cfg.Lambda}
		c, err := Craft(obj, f.lim)
		if err != nil {
			return nil, fmt.Errorf("try %d: %w", try+1, err)
		}
		// L-BFGS's two-loop recursion and vector updates: about (4·memory + 10) FLOPs per
		// variable per iteration (memory 15), the non-gradient part of crafting.
		f.ledger.AddOther(float64(c.Evaluations)*70*float64(len(base)), 0)
		passed := c.Residual <= f.cfg.MaxResidual && c.NormR2 <= maxNorm
		evals := c.Evaluations
		if best != nil {
			evals += best.evals
		}
		if best == nil || c.Residual < best.res.Residual || passed {
			pts := make([]float64, len(base))
			obj.Points(c.R, pts)
			best = &crafted{points: pts, labels: slices.Clone(labels), res: c}
		}
		best.tries, best.evals, best.passed = try+1, evals, passed
		if passed {
			break
		}
	}
	return best, nil
}

// selectBatch is crafting by selection (PointsReal): of Retries real batches drawn as the
// retry rule draws them, the one whose gradient at params is nearest g*, every candidate
// costing one gradient (f64, in the ledger). passed is the retry rule's residual threshold.
func (f *forger) selectBatch(ctx context.Context, rng interface{ IntN(int) int }, params, gstar, base []float64, labels []int) (*crafted, error) {
	g := make([]float64, len(gstar))
	idx := make([]int32, len(labels))
	var best *crafted
	for try := 0; try < f.cfg.Retries; try++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f.draw(rng, base, labels, idx)
		if _, err := f.craft.LossGrad(params, base, labels, g); err != nil {
			return nil, fmt.Errorf("candidate %d: %w", try+1, err)
		}
		res := 0.0
		for i, v := range g {
			d := v - gstar[i]
			res += float64(d * d)
		}
		f.ledger.AddOther(3*float64(len(g)), 0)
		if best == nil || res < best.res.Residual {
			start := res
			if best != nil {
				start = best.res.StartResid
			}
			best = &crafted{rows: slices.Clone(idx), labels: slices.Clone(labels),
				res: &Crafted{Residual: res, StartResid: start, F: res}}
		}
		best.tries, best.evals = try+1, try+1
		best.passed = best.res.Residual <= f.cfg.MaxResidual
	}
	return best, nil
}

// draw fills base and labels (and idx, when not nil) with distinct points of the attacker's
// pool.
func (f *forger) draw(rng interface{ IntN(int) int }, base []float64, labels []int, idx []int32) {
	n := len(labels)
	seen := make(map[int32]bool, n)
	for j := 0; j < n; {
		p := f.pool[rng.IntN(len(f.pool))]
		if seen[p] {
			continue
		}
		seen[p] = true
		f.t.Train.Features(int(p), base[j*f.dim:(j+1)*f.dim])
		labels[j] = f.t.Train.Label(int(p))
		if idx != nil {
			idx[j] = p
		}
		j++
	}
}
