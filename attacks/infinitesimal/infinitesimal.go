package infinitesimal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/prover"
	"pollab/stats"
)

// Published defaults (Fang et al.): T' = 10,000 steps, k = 10, l2, normalised delta
// stats.ReferenceNormalizedDelta (0.008).
const (
	DefaultSteps = 10000
	DefaultK     = 10
	// DefaultGapFraction is the share of delta the checkpoint gaps may use; the rest absorbs
	// the verifier's own reproduction noise (its env) on top of the attack's drift.
	DefaultGapFraction = 0.95
	// DefaultDriftFraction is the share of delta the claimed lr lets a re-execution drift.
	DefaultDriftFraction = 1e-3
)

// Config is one infinitesimal-update forgery.
type Config struct {
	Budget attacks.Budget // the threshold targeted, absolute
	Steps  int            // T' requested; raised to a multiple of K when the gaps need more
	K      int
	Seed   uint64
	// InitAlpha is the KS level W'0 must pass (0: stats.DefaultInitAlpha).
	InitAlpha float64
	// GapFraction and DriftFraction split delta (0: the defaults).
	GapFraction, DriftFraction float64
	// CheckFirst re-executes the first interval at the claimed lr with prover.Stepper and
	// reports the drift it measured. It costs K gradient passes, recorded in the ledger;
	// off by default, since the analytic lr needs no check.
	CheckFirst bool
	// Init is where the line starts (attacks.InitForged when empty; attacks.InitCommitted
	// starts from the honest init of the committed seed, so a seed commitment passes).
	Init string
}

// Attack is Fang et al.'s infinitesimal update attack.
type Attack struct{ Config Config }

// Name is "infinitesimal".
func (a *Attack) Name() string { return "infinitesimal" }

// Forge writes the forged proof for t.Final into out.
func (a *Attack) Forge(ctx context.Context, t *attacks.Target, out string, opt attacks.Options) (*attacks.Result, error) {
	cfg := a.Config
	if cfg.K <= 0 || cfg.Steps <= 0 {
		return nil, fmt.Errorf("infinitesimal: steps %d and k %d must be positive", cfg.Steps, cfg.K)
	}
	if cfg.Budget.Delta <= 0 {
		return nil, fmt.Errorf("infinitesimal: delta %g must be positive", cfg.Budget.Delta)
	}
	cfg.InitAlpha = cmp.Or(cfg.InitAlpha, stats.DefaultInitAlpha)
	cfg.GapFraction = cmp.Or(cfg.GapFraction, DefaultGapFraction)
	cfg.DriftFraction = cmp.Or(cfg.DriftFraction, DefaultDriftFraction)
	if cfg.GapFraction <= 0 || cfg.DriftFraction <= 0 || cfg.GapFraction+cfg.DriftFraction > 1 {
		return nil, fmt.Errorf("infinitesimal: gap fraction %g and drift fraction %g must be positive with sum <= 1", cfg.GapFraction, cfg.DriftFraction)
	}
	model, n := t.Model, t.Model.NumParams()
	ledger := autodiff.NewLedger()

	// W'0: KS-valid and rank-matched to W_T (or the committed seed's honest init), stored
	// in the run's dtype.
	start, err := t.StartLine(cfg.Init, cfg.Seed, cfg.InitAlpha, ledger)
	if err != nil {
		return nil, fmt.Errorf("infinitesimal: %w", err)
	}
	w0, tries := start.W0, start.Draws

	// The line and its length in the budget's metric.
	began := time.Now()
	line := attacks.NewLine(w0, t.Final)
	// Buffers (running statistics) on their own line: constant W_T's when W'0 copied them.
	bufLine := attacks.NewLine(start.Buffers, t.Buffers)
	d0 := cfg.Budget.Norm(line.Dir)
	maxNorm := math.Max(cfg.Budget.Norm(w0), cfg.Budget.Norm(t.Final))
	norms := maxNorms(attacks.TensorNorms(model, w0), attacks.TensorNorms(model, t.Final))
	ledger.AddOther(4*float64(n), time.Since(began)) // direction, two norms (tensor norms reuse them)

	// As many checkpoints as the gaps need: k/T'·d0 <= gap budget.
	gapBudget := float64(cfg.GapFraction*cfg.Budget.Delta) - cfg.Budget.RoundingSlack(t.DType, maxNorm)
	if gapBudget <= 0 {
		return nil, fmt.Errorf("infinitesimal: delta %g is below the rounding error of storing %s weights of norm %g", cfg.Budget.Delta, t.DType, maxNorm)
	}
	steps := cfg.Steps
	if need := float64(cfg.K) * d0 / gapBudget; need > float64(steps) {
		if need > math.MaxInt32/2 {
			return nil, fmt.Errorf("infinitesimal: |W_T - W'0| = %g needs more than 2^30 steps at delta %g", d0, cfg.Budget.Delta)
		}
		steps = int(math.Ceil(need/float64(cfg.K))) * cfg.K
	}
	gap := d0 * float64(cfg.K) / float64(steps)

	// The claimed lr: re-executing k steps from any checkpoint moves at most the drift
	// budget (analytic gradient bound, no gradient computed).
	driftL2 := cfg.Budget.L2Equivalent(cfg.DriftFraction*cfg.Budget.Delta, n)
	h := t.Manifest.Hyper()
	lr, gbound, err := attacks.TinyLR(model, norms, 0, h, cfg.K, driftL2)
	measured := errors.Is(err, attacks.ErrNoAnalyticBound)
	if err != nil && !measured {
		return nil, fmt.Errorf("infinitesimal: %w", err)
	}

	f, err := t.CreateForged(out, attacks.ForgedSpec{
		Producer: "attack:" + a.Name(), Steps: steps, K: cfg.K, Seed: cfg.Seed,
		CommittedInit: attacks.InitModeOr(cfg.Init) == attacks.InitCommitted,
	})
	if err != nil {
		return nil, fmt.Errorf("infinitesimal: %w", err)
	}
	defer f.Close()
	if measured {
		// No analytic bound (BatchNorm): the gradient norm measured at both ends of the line on
		// the first interval's batches, with a safety factor (2k recorded gradients).
		s := prover.NewStepper(model, t.DType, t.Train, nil, ledger)
		gbound, err = attacks.MeasuredGradBound(s, [][]float64{w0, t.Final}, min(cfg.K, steps), f.Batch)
		if err == nil {
			var ss float64
			for _, v := range norms {
				ss += float64(v * v)
			}
			lr, err = attacks.TinyLRFor(gbound, math.Sqrt(ss), 0, h, cfg.K, driftL2)
		}
		if err != nil {
			return nil, fmt.Errorf("infinitesimal: %w", err)
		}
	}

	ckpts := f.CheckpointSteps()
	buf := make([]float64, n)
	buffers := slices.Clone(start.Buffers)
	for i, s := range ckpts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("infinitesimal: %w", err)
		}
		began := time.Now()
		line.At(s, steps, buf)
		bufLine.At(s, steps, buffers)
		ledger.AddOther(attacks.PointFLOPs(n+len(buffers)), time.Since(began))
		if err := f.WriteCheckpoint(s, lr, buf, nil, buffers); err != nil {
			return nil, fmt.Errorf("infinitesimal: %w", err)
		}
		opt.Report(i+1, len(ckpts), "checkpoints")
	}

	notes := map[string]string{
		"metric":          cfg.Budget.Metric,
		"delta":           fmtG(cfg.Budget.Delta),
		"d0":              fmtG(d0),
		"gap":             fmtG(gap),
		"steps_requested": strconv.Itoa(cfg.Steps),
		"claimed_lr":      fmtG(lr),
		"lr_choice": fmt.Sprintf("analytic: k·lr·(G + wd·|w|)/(1-momentum) <= %g (l2) with gradient-norm bound G = %.4g from tensor norms; no gradient computed",
			driftL2, gbound),
		"init_draws":                     strconv.Itoa(tries),
		"buffers":                        fmt.Sprintf("%d running statistics on the line from W'0's to W_T's", len(buffers)),
		"flops_per_param_per_checkpoint": fmtG(attacks.PointFLOPs(n) / float64(n)),
	}
	maps.Copy(notes, start.Notes)
	if measured {
		notes["lr_choice"] = fmt.Sprintf("measured (no analytic bound for %s): k·lr·(G + wd·|w|)/(1-momentum) <= %g (l2) with G = %d × the largest gradient norm at W'0 and W_T on the first interval's batches, %.4g",
			model.Spec(), driftL2, attacks.MeasuredGradSafety, gbound)
	}
	if len(buffers) == 0 {
		delete(notes, "buffers")
	}
	if steps != cfg.Steps {
		notes["steps_raised"] = fmt.Sprintf("%d -> %d so every gap is <= %.4g", cfg.Steps, steps, gapBudget)
	}
	if cfg.CheckFirst {
		drift, err := checkFirst(t, f, line, bufLine.W0, lr, steps, cfg.Budget, ledger)
		if err != nil {
			return nil, fmt.Errorf("infinitesimal: checking the first interval: %w", err)
		}
		notes["first_interval_reexecution_distance"] = fmtG(drift)
	}
	res, err := f.Finish(a.Name(), out, ledger.Cost(), opt, notes)
	if err != nil {
		return nil, fmt.Errorf("infinitesimal: %w", err)
	}
	return res, nil
}

// checkFirst re-executes interval 0 honestly at the claimed lr, as the verifier will, and
// returns its distance (in the budget's metric) to checkpoint 1.
func checkFirst(t *attacks.Target, f *attacks.Forged, line *attacks.Line, buffers0 []float64, lr float64, steps int, b attacks.Budget, ledger *autodiff.Ledger) (float64, error) {
	n := t.Model.NumParams()
	st := &prover.State{Step: 0, LR: lr, Params: make([]float64, n), Buffers: slices.Clone(buffers0)}
	copy(st.Params, line.W0)
	h := f.Hyper
	if h.Momentum != 0 {
		st.Momentum = make([]float64, n)
	}
	stepper := prover.NewStepper(t.Model, t.DType, t.Train, nil, ledger)
	k := f.Manifest.K
	end := min(k, steps)
	for s := 0; s < end; s++ {
		batch, seed, aug := f.Batch(s)
		if err := stepper.Step(st, h, batch, seed, aug); err != nil {
			return 0, err
		}
	}
	next := make([]float64, n)
	line.At(end, steps, next)
	t.DType.Round(next)
	ledger.AddOther(stats.DistanceFLOPs(n), 0)
	return b.Of(stats.Distance(st.Params, next)), nil
}

func maxNorms(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = math.Max(a[i], b[i])
	}
	return out
}

func fmtG(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

var _ attacks.Attack = (*Attack)(nil)
