package blindfold

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
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
)

// Published defaults (Fang et al.): E = 200 epochs, q = 5 genuine intervals per epoch,
// k = 10, 200 spoofed steps per epoch.
const (
	DefaultEpochs     = 200
	DefaultQ          = 5
	DefaultK          = 10
	DefaultSpoofSteps = 200 // published for CIFAR-10; Defaults scales S to the target instead
	// DefaultGapFraction and DefaultDriftFraction split delta as the infinitesimal attack
	// does: gaps may use 95% of it, an interpolated interval's re-execution drift 0.1%.
	DefaultGapFraction   = 0.95
	DefaultDriftFraction = 1e-3
	// DefaultMinRatio: a genuine interval's update is at least this many deltas long, so it
	// outranks every interpolated gap (<= delta) in the verifier's top-Q.
	DefaultMinRatio = 2
	// maxRedos bounds the re-runs of a genuine interval whose update missed its target length.
	maxRedos = 3
)

// Claimed learning rates of the interpolated checkpoints.
const (
	// InterpTiny claims the analytic infinitesimal lr (attacks.TinyLR): a re-execution of an
	// interpolated interval stays within delta of the next checkpoint, so random audits under
	// trust-checkpoint cannot catch it.
	InterpTiny = "tiny"
	// InterpGenuine claims the lr of the epoch's last genuine interval: a re-execution then
	// moves like a genuine step and lands far from the next interpolated checkpoint.
	InterpGenuine = "genuine"
	// InterpManifest claims the lr the manifest's schedule gives at that step: the setting of
	// Fang et al., whose verifier re-executes every interval with the task's own lr (their
	// proofs store none). Re-execution then moves by one honest interval's update, and an
	// audit rejects the interval when that update plus the gap exceeds delta.
	InterpManifest = "manifest"
)

// Config is one Blindfold Top-Q forgery. Zero fields take the defaults (see Defaults).
type Config struct {
	Epochs     int // E, the attacker's epochs
	Q          int // q, genuine intervals at the start of each epoch
	K          int
	SpoofSteps int // S, interpolated steps per epoch; T' = E·(q·k + S)
	Budget     attacks.Budget
	Seed       uint64
	InitAlpha  float64
	// GapFraction, DriftFraction and MinRatio: see the defaults.
	GapFraction, DriftFraction, MinRatio float64
	InterpLR                             string // InterpManifest (default), InterpTiny or InterpGenuine
	// Init is where the line starts (attacks.InitForged when empty). Under
	// attacks.InitCommitted (the committed seed's honest W0, its batches the committed
	// schedule's) the line is as long as honest training's, so Run raises E until every
	// epoch's interpolated gaps can stay within delta: more genuine steps, more cost.
	Init string
}

// Defaults fills zero fields. E, q and k default to the published values; S defaults to the
// rest of one claimed epoch, S = floor(N/B/k)·k − q·k, so each attacker epoch is one epoch of
// the verifier's top-Q ranking (Fang et al.'s 200 suit none of pollab's datasets exactly).
// When a claimed epoch is shorter than q·k + k steps this leaves S <= 0, which Run rejects:
// the verifier's epochs are too short for q genuine intervals and a bridge to the anchor.
func (c Config) Defaults(t *attacks.Target) Config {
	c.Epochs = cmp.Or(c.Epochs, DefaultEpochs)
	c.Q = cmp.Or(c.Q, DefaultQ)
	c.K = cmp.Or(c.K, DefaultK)
	c.SpoofSteps = cmp.Or(c.SpoofSteps, int(t.StepsPerEpoch())/c.K*c.K-c.Q*c.K)
	c.InitAlpha = cmp.Or(c.InitAlpha, stats.DefaultInitAlpha)
	c.GapFraction = cmp.Or(c.GapFraction, DefaultGapFraction)
	c.DriftFraction = cmp.Or(c.DriftFraction, DefaultDriftFraction)
	c.MinRatio = cmp.Or(c.MinRatio, DefaultMinRatio)
	c.InterpLR = cmp.Or(c.InterpLR, InterpManifest)
	return c
}

// Steps is T' = E·(q·k + S).
func (c Config) Steps() int { return c.Epochs * (c.Q*c.K + c.SpoofSteps) }

func (c Config) validate() error {
	switch {
	case c.Epochs <= 0 || c.Q <= 0 || c.K <= 0:
		return fmt.Errorf("epochs %d, q %d and k %d must be positive", c.Epochs, c.Q, c.K)
	case c.SpoofSteps <= 0:
		return fmt.Errorf("interpolated steps per epoch %d must be positive (the default, one claimed epoch minus q·k rounded to k, is not: lower q or k)", c.SpoofSteps)
	case c.SpoofSteps%c.K != 0:
		return fmt.Errorf("spoofed steps per epoch %d must be a multiple of k %d", c.SpoofSteps, c.K)
	case !(c.Budget.Delta > 0):
		return fmt.Errorf("delta %g must be positive", c.Budget.Delta)
	case c.GapFraction <= 0 || c.DriftFraction <= 0 || c.GapFraction+c.DriftFraction > 1:
		return fmt.Errorf("gap fraction %g and drift fraction %g must be positive with sum <= 1", c.GapFraction, c.DriftFraction)
	case c.MinRatio < 1:
		return fmt.Errorf("min ratio %g must be >= 1 (genuine updates must outrank the gaps)", c.MinRatio)
	case c.InterpLR != InterpTiny && c.InterpLR != InterpGenuine && c.InterpLR != InterpManifest:
		return fmt.Errorf("interpolated lr %q: want %s, %s or %s", c.InterpLR, InterpManifest, InterpTiny, InterpGenuine)
	}
	if c.Epochs > math.MaxInt32/(c.Q*c.K+c.SpoofSteps) {
		return fmt.Errorf("%d epochs of %d steps overflow", c.Epochs, c.Q*c.K+c.SpoofSteps)
	}
	return nil
}

// Report is a Blindfold forgery's result with what it computed.
type Report struct {
	attacks.Result
	Config Config `json:"config"`
	// VerifierEpochs is the number of epochs the verifier ranks intervals in: interval i is
	// in epoch floor(start_i·B/N). Genuine intervals are the first q of each of them.
	VerifierEpochs int `json:"verifier_epochs"`
	// GenuineIntervals lists the genuinely computed intervals (by index), with their claimed
	// lr and update length in the budget's metric; their batches are the table's rows.
	GenuineIntervals []int     `json:"genuine_intervals"`
	GenuineLR        []float64 `json:"genuine_lr"`
	GenuineUpdate    []float64 `json:"genuine_update"`
	GenuineSteps     int       `json:"genuine_steps"`
	Redos            int       `json:"redos"` // genuine intervals re-run to correct their length
	Target           float64   `json:"target_update"`
	MaxGap           float64   `json:"max_gap"`   // largest interpolated gap, budget metric
	InterpLR         []float64 `json:"interp_lr"` // per epoch
	D0               float64   `json:"d0"`
	InitDraws        int       `json:"init_draws"`
}

// Attack is Fang et al.'s Blindfold Top-Q attack.
type Attack struct{ Config Config }

// Name is "blindfold".
func (a *Attack) Name() string { return "blindfold" }

// Forge writes the forged proof and returns its Result.
func (a *Attack) Forge(ctx context.Context, t *attacks.Target, out string, opt attacks.Options) (*attacks.Result, error) {
	r, err := a.Run(ctx, t, out, opt)
	if err != nil {
		return nil, err
	}
	r.Result.Report = r
	r.Details = []string{fmt.Sprintf("%d genuine intervals (%d SGD steps, %d re-runs), update target %.4g; largest interpolated gap %.4g",
		len(r.GenuineIntervals), r.GenuineSteps, r.Redos, r.Target, r.MaxGap)}
	return &r.Result, nil
}

// epochGroup is one verifier epoch: intervals [first, end).
type epochGroup struct{ first, end int }

// Run forges the proof (see the package documentation for the construction).
func (a *Attack) Run(ctx context.Context, t *attacks.Target, out string, opt attacks.Options) (*Report, error) {
	cfg := a.Config.Defaults(t)
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("blindfold: %w", err)
	}
	model, n := t.Model, t.Model.NumParams()
	b := cfg.Budget
	ledger := autodiff.NewLedger()
	start, err := t.StartLine(cfg.Init, cfg.Seed, cfg.InitAlpha, ledger)
	if err != nil {
		return nil, fmt.Errorf("blindfold: %w", err)
	}
	w0 := start.W0
	line := attacks.NewLine(w0, t.Final)
	// Buffers (running statistics) ride along on their own line, W'0's to W_T's (constant
	// when W'0 copied W_T's), and the genuine intervals train them.
	bufLine := attacks.NewLine(start.Buffers, t.Buffers)
	raisedFrom := 0
	if attacks.InitModeOr(cfg.Init) == attacks.InitCommitted {
		if e := epochsFor(b.Norm(line.Dir), cfg, b.Delta); e > cfg.Epochs {
			raisedFrom, cfg.Epochs = cfg.Epochs, e
			if err := cfg.validate(); err != nil {
				return nil, fmt.Errorf("blindfold: %w", err)
			}
		}
	}
	steps := cfg.Steps()
	ckpts := proof.CheckpointSteps(steps, cfg.K)
	groups := verifierEpochs(ckpts, t.Manifest.Batch, t.Train.Len())
	for e, g := range groups {
		if g.end-g.first <= cfg.Q {
			return nil, fmt.Errorf("blindfold: epoch %d has %d intervals, q = %d leaves none to reach its anchor (claimed epoch %.4g steps; lower --q or --k, or raise --steps)",
				e, g.end-g.first, cfg.Q, t.StepsPerEpoch())
		}
	}
	rep := &Report{Config: cfg, VerifierEpochs: len(groups), InitDraws: start.Draws}
	rep.D0 = b.Norm(line.Dir)
	// Each genuine interval is about d0/E long, and never shorter than MinRatio·delta.
	rep.Target = math.Max(rep.D0/float64(len(groups)), cfg.MinRatio*b.Delta)
	gapBudget := float64(cfg.GapFraction*b.Delta) - b.RoundingSlack(t.DType, math.Max(b.Norm(w0), b.Norm(t.Final))+float64(rep.Target*float64(cfg.Q)))
	if gapBudget <= 0 {
		return nil, fmt.Errorf("blindfold: delta %g is below the rounding error of storing %s weights", b.Delta, t.DType)
	}
	driftL2 := b.L2Equivalent(cfg.DriftFraction*b.Delta, n)

	f, err := t.CreateForged(out, attacks.ForgedSpec{Producer: "attack:" + a.Name(), Steps: steps, K: cfg.K, Seed: cfg.Seed,
		CommittedInit: attacks.InitModeOr(cfg.Init) == attacks.InitCommitted})
	if err != nil {
		return nil, fmt.Errorf("blindfold: %w", err)
	}
	defer f.Close()
	h := f.Hyper
	stepper := prover.NewStepper(model, t.DType, t.Train, nil, ledger)

	// The first genuine lr: one gradient at W'0 (recorded) sets lr·k·|g| to the target;
	// later intervals rescale the previous lr by target/|update|.
	lr, err := firstLR(stepper, f, w0, rep.Target, cfg.K, b)
	if err != nil {
		return nil, fmt.Errorf("blindfold: %w", err)
	}

	cur := append([]float64(nil), w0...) // state at the current checkpoint
	curBuffers := slices.Clone(start.Buffers)
	var buf []float64
	if h.Momentum != 0 {
		buf = make([]float64, n)
	}
	written := 0
	report := func() {
		written++
		opt.Report(written, len(ckpts), "checkpoints")
	}
	next := make([]float64, n)
	nextBuffers := slices.Clone(start.Buffers)
	for e, g := range groups {
		// Genuine intervals: honest SGD from the current checkpoint with a claimed lr.
		for i := g.first; i < g.first+cfg.Q; i++ {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("blindfold: %w", err)
			}
			st, update, redos, err := genuineInterval(stepper, f, h, ckpts[i], ckpts[i+1], cur, buf, curBuffers, lr, rep.Target, b, ledger)
			if err != nil {
				return nil, fmt.Errorf("blindfold: interval %d: %w", i, err)
			}
			lr = st.claimed
			rep.Redos += redos
			if err := f.WriteCheckpoint(ckpts[i], lr, cur, buf, curBuffers); err != nil {
				return nil, fmt.Errorf("blindfold: %w", err)
			}
			report()
			rep.GenuineIntervals = append(rep.GenuineIntervals, i)
			rep.GenuineLR = append(rep.GenuineLR, lr)
			rep.GenuineUpdate = append(rep.GenuineUpdate, update)
			rep.GenuineSteps += (ckpts[i+1] - ckpts[i]) * (1 + redos)
			cur, buf, curBuffers = st.Params, st.Momentum, st.Buffers
			// The next genuine interval aims at the same length.
			if update > 0 {
				lr *= rep.Target / update
			}
		}
		// Interpolated intervals: the straight segment from the genuine part's end to the
		// epoch's anchor, gaps <= delta, no computation behind them.
		first := g.first + cfg.Q
		m := g.end - first
		line.At(e+1, len(groups), next)
		t.DType.Round(next)
		bufLine.At(e+1, len(groups), nextBuffers)
		t.DType.Round(nextBuffers)
		seg := attacks.NewLine(cur, next)
		bufSeg := attacks.NewLine(curBuffers, nextBuffers)
		gap := b.Norm(seg.Dir) / float64(m)
		ledger.AddOther(3*float64(n), 0)
		if gap > gapBudget {
			return nil, fmt.Errorf("blindfold: epoch %d: its anchor is %.4g from the genuine part's end, %d interpolated intervals give gaps of %.4g > %.4g (raise --steps or lower --q)",
				e, b.Norm(seg.Dir), m, gap, gapBudget)
		}
		rep.MaxGap = math.Max(rep.MaxGap, gap)
		interp := func(int) float64 { return lr }
		switch cfg.InterpLR {
		case InterpTiny:
			norms := maxNorms(attacks.TensorNorms(model, cur), attacks.TensorNorms(model, next))
			tiny, _, err := attacks.TinyLR(model, norms, l2Norm(buf), h, cfg.K, driftL2)
			if errors.Is(err, attacks.ErrNoAnalyticBound) {
				// BatchNorm: the gradient norm measured at both ends of the segment on the
				// first interpolated interval's batches (non-committing passes, recorded).
				at := ckpts[first]
				var g float64
				if g, err = attacks.MeasuredGradBound(stepper, [][]float64{cur, next}, min(cfg.K, steps-at), func(i int) ([]int32, uint64, bool) { return f.Batch(at + i) }); err == nil {
					tiny, err = attacks.TinyLRFor(g, math.Max(l2Norm(cur), l2Norm(next)), l2Norm(buf), h, cfg.K, driftL2)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("blindfold: epoch %d: %w", e, err)
			}
			interp = func(int) float64 { return tiny }
		case InterpManifest:
			interp = h.LRAt
		}
		rep.InterpLR = append(rep.InterpLR, interp(ckpts[first]))
		point := make([]float64, n)
		pointBuffers := slices.Clone(curBuffers)
		for j := 0; j < m; j++ {
			var mom []float64
			if j == 0 {
				copy(point, cur)
				copy(pointBuffers, curBuffers)
				mom = buf // the genuine part's end state, stored exactly
			} else {
				began := time.Now()
				seg.At(j, m, point)
				bufSeg.At(j, m, pointBuffers)
				ledger.AddOther(attacks.PointFLOPs(n+len(pointBuffers)), time.Since(began))
			}
			if err := f.WriteCheckpoint(ckpts[first+j], interp(ckpts[first+j]), point, mom, pointBuffers); err != nil {
				return nil, fmt.Errorf("blindfold: %w", err)
			}
			report()
		}
		copy(cur, next)
		curBuffers = slices.Clone(nextBuffers)
		if buf != nil {
			clear(buf)
		}
		if e == len(groups)-1 {
			// The last anchor is W_T itself.
			if err := f.WriteCheckpoint(ckpts[len(ckpts)-1], interp(steps), t.Final, nil, t.Buffers); err != nil {
				return nil, fmt.Errorf("blindfold: %w", err)
			}
			report()
		}
	}

	notes := map[string]string{
		"metric":          b.Metric,
		"delta":           fmtG(b.Delta),
		"d0":              fmtG(rep.D0),
		"verifier_epochs": strconv.Itoa(len(groups)),
		"genuine_steps":   strconv.Itoa(rep.GenuineSteps),
		"target_update":   fmtG(rep.Target),
		"max_gap":         fmtG(rep.MaxGap),
		"interp_lr":       cfg.InterpLR,
		"layout":          fmt.Sprintf("E %d x (q %d x k %d genuine + S %d interpolated steps)", cfg.Epochs, cfg.Q, cfg.K, cfg.SpoofSteps),
	}
	maps.Copy(notes, start.Notes)
	if raisedFrom > 0 {
		notes["epochs_raised"] = fmt.Sprintf("%d -> %d so every interpolated gap can stay within delta", raisedFrom, cfg.Epochs)
	}
	res, err := f.Finish(a.Name(), out, ledger.Cost(), opt, notes)
	if err != nil {
		return nil, fmt.Errorf("blindfold: %w", err)
	}
	rep.Result = *res
	return rep, nil
}

// epochsFor is the smallest E >= c.Epochs at which, with a line of length d0, one epoch's
// q genuine intervals (each max(d0/E, MinRatio·delta) long, in the worst case away from the
// anchor) plus its share d0/E of the line fit its S/k interpolated gaps at 90% of the gap
// budget; c.Epochs when none up to 2^20 does.
func epochsFor(d0 float64, c Config, delta float64) int {
	room := float64(0.9*c.GapFraction) * delta * float64(c.SpoofSteps/c.K)
	for e := c.Epochs; e <= 1<<20; e++ {
		share := d0 / float64(e)
		if share+float64(float64(c.Q)*math.Max(share, float64(c.MinRatio*delta))) <= room {
			return e
		}
	}
	return c.Epochs
}

// verifierEpochs groups the intervals between consecutive checkpoints by the epoch the
// verifier's default rule puts them in (stats.IntervalEpochs, stats.EpochRuleStart:
// floor(start·B/N), the epoch of the first point of their first batch).
func verifierEpochs(ckpts []int, batch, n int) []epochGroup {
	var groups []epochGroup
	prev := -1
	for i, e := range stats.IntervalEpochs(stats.EpochRuleStart, ckpts, batch, n, 0) {
		if e != prev {
			groups = append(groups, epochGroup{first: i, end: i + 1})
			prev = e
		} else {
			groups[len(groups)-1].end = i + 1
		}
	}
	return groups
}

// firstLR sets lr so that k steps along the first batch's gradient direction d = g + wd·w at
// w0 would move target: lr = target/(k·|d|). One gradient, recorded in the stepper's ledger.
func firstLR(s *prover.Stepper, f *attacks.Forged, w0 []float64, target float64, k int, b attacks.Budget) (float64, error) {
	batch, seed, aug := f.Batch(0)
	x, y, err := s.Gather(batch, seed, aug)
	if err != nil {
		return 0, err
	}
	g, _, err := s.Gradient(w0, x, y, 0)
	if err != nil {
		return 0, err
	}
	d := make([]float64, len(g))
	for i := range g {
		d[i] = g[i] + float64(f.Hyper.WeightDecay*w0[i])
	}
	norm := b.Norm(d)
	if !(norm > 0) {
		return 0, fmt.Errorf("the gradient at W'0 is zero: no lr can make a genuine update")
	}
	return target / (float64(k) * norm), nil
}

// genuineResult is a genuinely computed interval's end state and its claimed lr.
type genuineResult struct {
	Params, Momentum, Buffers []float64
	claimed                   float64
}

// genuineInterval runs steps [from, to) honestly with prover.Stepper from (w, buf, buffers)
// at lr, exactly as a verifier re-executes it from the checkpoint (w, buf, buffers, lr). If the update's
// length misses target by more than a factor 2, lr is rescaled by target/|update| and the
// interval re-run (at most maxRedos times; every run is in the ledger).
func genuineInterval(s *prover.Stepper, f *attacks.Forged, h proof.Hyper, from, to int, w, buf, buffers []float64, lr, target float64, b attacks.Budget, ledger *autodiff.Ledger) (*genuineResult, float64, int, error) {
	var st *prover.State
	var update float64
	redos := 0
	for {
		st = &prover.State{Step: from, LR: lr, Params: append([]float64(nil), w...), Buffers: slices.Clone(buffers)}
		if buf != nil {
			st.Momentum = append([]float64(nil), buf...)
		}
		for step := from; step < to; step++ {
			batch, seed, aug := f.Batch(step)
			if err := s.Step(st, h, batch, seed, aug); err != nil {
				return nil, 0, redos, err
			}
		}
		update = b.Of(stats.Distance(w, st.Params))
		ledger.AddOther(stats.DistanceFLOPs(len(w)), 0)
		for _, v := range st.Params {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, 0, redos, fmt.Errorf("SGD diverged at lr %g", lr)
			}
		}
		ratio := update / target
		if (ratio >= 0.5 && ratio <= 2) || redos == maxRedos || !(update > 0) {
			break
		}
		lr *= target / update
		redos++
	}
	return &genuineResult{Params: st.Params, Momentum: st.Momentum, Buffers: st.Buffers, claimed: lr}, update, redos, nil
}

func maxNorms(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = math.Max(a[i], b[i])
	}
	return out
}

func l2Norm(v []float64) float64 {
	var ss float64
	for _, x := range v {
		ss += float64(x * x)
	}
	return math.Sqrt(ss)
}

func fmtG(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

var _ attacks.Attack = (*Attack)(nil)
