package verifier

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"pollab/autodiff"
	"pollab/data"
	"pollab/models"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
)

// Options tune Gather; the zero value is ready.
type Options struct {
	// Workers re-execute intervals in parallel, one Stepper (one compiled graph) each;
	// 0 means runtime.NumCPU().
	Workers int
	// Cache is consulted before and filled after every re-execution; nil means a fresh
	// in-memory cache, persisted under CacheDir when that is set.
	Cache    *Cache
	CacheDir string
	// DRef is the calibrated honest distance for normalised thresholds (nil: none).
	DRef *stats.Distances
	// AuditNonce fixes the verifier's secret nonce (to replay a verification); nil draws one
	// from crypto/rand after the proof has been read.
	AuditNonce *uint64
	// Progress is called with done/total units (checkpoints read, then steps re-executed),
	// never concurrently.
	Progress func(done, total int, note string)
}

// Gather verifies the proof's cheap properties, measures every interval's update, and
// re-executes the union of the intervals that policies need, under env. The result holds
// everything every one of the policies needs to Decide. An augmented proof without its
// augmentation seeds is re-executed with the verifier's own in every env, and Evidence.Env
// says so (exact becomes augment, dtype becomes dtype+augment).
//
// Errors mean the proof could not be verified at all (unreadable or malformed files, a
// dataset that cannot be loaded, cancellation); findings against the proof are recorded in
// the Evidence for Decide to reject.
func Gather(ctx context.Context, p *proof.Proof, env Env, policies []Policy, opt Options) (*Evidence, error) {
	start := time.Now()
	for i, pol := range policies {
		if err := pol.Validate(); err != nil {
			return nil, fmt.Errorf("policy %d: %w", i, err)
		}
	}
	m := p.Manifest()
	// Augmentation seeds that the proof does not record cannot be replayed: whatever env was
	// asked for, the verifier can only draw its own, so it runs (and the evidence, results
	// cache included, names) that env with augment added rather than pretend to be exact.
	if m.Augment.Enabled && p.AugSeeds() == nil {
		env.OwnAugment = true
	}
	env.Name = env.String()
	model, err := models.Parse(m.Model)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", proof.ManifestFile, err)
	}
	runDT, err := m.RunDType()
	if err != nil {
		return nil, fmt.Errorf("manifest dtype: %w", err)
	}
	if m.Dataset.N <= 0 || m.Batch <= 0 || m.Steps <= 0 {
		return nil, fmt.Errorf("manifest: dataset size %d, batch %d, steps %d: want all positive", m.Dataset.N, m.Batch, m.Steps)
	}
	sha, err := manifestSHA256(p.Dir())
	if err != nil {
		return nil, err
	}
	train, err := data.Load(m.Dataset.Name, data.Train)
	if err != nil {
		return nil, fmt.Errorf("%s: declared dataset: %w", proof.ManifestFile, err)
	}
	nonce, err := pickNonce(opt.AuditNonce)
	if err != nil {
		return nil, err
	}
	cache := opt.Cache
	if cache == nil {
		if cache, err = NewCache(opt.CacheDir); err != nil {
			return nil, err
		}
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	progress := opt.Progress
	if progress == nil {
		progress = func(int, int, string) {}
	}

	ev := &Evidence{
		Manifest: sha, Env: env.Name, Model: m.Model, Dataset: m.Dataset.Name,
		DatasetSize: m.Dataset.N, Batch: m.Batch, Steps: m.Steps, Epochs: m.Epochs, K: m.K,
		StepsPerEpoch: float64(m.Dataset.N) / float64(m.Batch),
		AuditNonce:    nonce, DRef: opt.DRef,
	}
	ledger := autodiff.NewLedger()

	src := &Source{Proof: p, Manifest: m, Model: model, Train: train, Env: env}
	if err := scanCheckpoints(ctx, ev, src, ledger, progress); err != nil {
		return nil, err
	}
	// Every check of the policies collects its finding, once per check name.
	collected := map[string]bool{}
	for _, pol := range policies {
		for _, c := range pol.Checks {
			if collected[c.Name()] {
				continue
			}
			collected[c.Name()] = true
			if err := c.Collect(src, ev); err != nil {
				return nil, fmt.Errorf("check %s: %w", c.Name(), err)
			}
		}
	}
	src.W0, src.B0, src.States = nil, nil, nil

	// The union of what the policies need, per hyperparameter mode.
	type task struct {
		interval int
		mode     string
	}
	var tasks []task
	neededSteps := 0
	for _, mode := range []string{HparamsTrustCheckpoint, HparamsEnforceManifest} {
		var union []int
		for _, pol := range policies {
			if pol.HparamsMode() == mode {
				union = append(union, pol.Needed(ev)...)
			}
		}
		slices.Sort(union)
		for _, i := range slices.Compact(union) {
			tasks = append(tasks, task{i, mode})
			neededSteps += ev.Intervals[i].Steps()
		}
	}
	var todo []task
	todoSteps := 0
	for _, t := range tasks {
		iv := &ev.Intervals[t.interval]
		if res, ok := cache.get(cacheKey(sha, t.interval, env, t.mode)); ok {
			setRepro(iv, t.mode, res, true, opt.DRef)
			ev.CacheHits++
			continue
		}
		todo = append(todo, t)
		todoSteps += iv.Steps()
	}

	re := &reexecutor{
		p: p, m: m, model: model, env: env, train: train, ledger: ledger,
		dt: runDT, sha: sha,
	}
	if env.FlipDType {
		re.dt = flip(runDT)
	}
	re.augRoot = data.SubSeed(0, "verifier-augment:"+sha, 0)
	re.noiseSeed = data.SubSeed(0, "verifier-noise:"+sha, 0)

	// Re-execute what the cache did not hold: at most `workers` intervals at a time, and the
	// first error cancels the rest. A running task borrows a Stepper (one compiled graph,
	// reused across intervals) from steppers, so at most `workers` are ever built.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	steppers := make(chan *prover.Stepper, workers)
	var (
		mu       sync.Mutex // guards doneStep and ev.Intervals, and serialises Progress
		doneStep int
	)
	for _, t := range todo {
		if gctx.Err() != nil {
			break // a task failed or the caller cancelled: start nothing more
		}
		g.Go(func() (err error) {
			// errgroup does not recover panics, and one in a task goroutine would kill the
			// process past the CLI's last-resort guard (which only sees the main goroutine):
			// report it as this verification's error.
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("re-executing interval %d: internal error: %v", t.interval, r)
				}
			}()
			var stepper *prover.Stepper
			select {
			case stepper = <-steppers:
			default:
				stepper = re.newStepper()
			}
			res, err := re.run(gctx, stepper, t.interval, t.mode, func() {
				mu.Lock()
				defer mu.Unlock()
				doneStep++
				progress(doneStep, todoSteps, "re-executing")
			})
			if err != nil {
				return err
			}
			steppers <- stepper // only after a clean run; never blocks (at most `workers` exist)
			if err := cache.put(cacheKey(sha, t.interval, env, t.mode), res); err != nil {
				return err
			}
			mu.Lock()
			setRepro(&ev.Intervals[t.interval], t.mode, res, false, opt.DRef)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("verification cancelled: %w", err)
	}

	ev.ReexecutedSteps = todoSteps
	ev.ReexecutedFraction = float64(todoSteps) / float64(m.Steps)
	ev.NeededSteps = neededSteps
	ev.NeededFraction = float64(neededSteps) / float64(m.Steps)
	ev.Ledger = ledger.Cost()
	ev.Wall = time.Since(start)
	return ev, nil
}

// reexecResult is what one re-execution yields (and what the cache stores).
type reexecResult struct {
	Raw     stats.Distances  `json:"raw"`
	Buffers *stats.Distances `json:"buffers,omitempty"`
	Failure string           `json:"failure,omitempty"`
}

func setRepro(iv *Interval, mode string, res reexecResult, cached bool, dref *stats.Distances) {
	r := &Repro{Raw: res.Raw, Buffers: res.Buffers, Failure: res.Failure, Cached: cached}
	if dref != nil {
		n := res.Raw.Normalize(*dref)
		r.Normalized = &n
	}
	if iv.Repro == nil {
		iv.Repro = map[string]*Repro{}
	}
	iv.Repro[mode] = r
}

func flip(dt autodiff.DType) autodiff.DType {
	if dt == autodiff.Float32 {
		return autodiff.Float64
	}
	return autodiff.Float32
}

func pickNonce(fixed *uint64) (uint64, error) {
	if fixed != nil {
		return *fixed, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("audit nonce: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// manifestSHA256 is the hex SHA-256 of the proof's manifest.json (what the prover commits to).
func manifestSHA256(dir string) (string, error) {
	path := filepath.Join(dir, proof.ManifestFile)
	// Non-blocking, then a regular-file check: opening a FIFO put in the proof would block.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("manifest hash: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("manifest hash %s: not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, proof.MaxManifestBytes+1))
	if err != nil {
		return "", fmt.Errorf("manifest hash %s: %w", path, err)
	}
	if n > proof.MaxManifestBytes {
		return "", fmt.Errorf("manifest hash %s: larger than %d bytes", path, proof.MaxManifestBytes)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkData recomputes every step's batch hash from the indexed points (declared dataset for
// entries >= 0, payload for entries < 0) and compares it with the recorded one.
func checkData(ev *Evidence, p *proof.Proof, train *data.Dataset) {
	m := p.Manifest()
	f := &ev.Data
	f.Checked = true
	f.FirstBadStep = -1
	fp, err := m.ParseFingerprint()
	switch {
	case err != nil:
		f.Reason = fmt.Sprintf("manifest fingerprint: %v", err)
		return
	case fp != train.Fingerprint():
		f.Reason = fmt.Sprintf("dataset %s loaded here has fingerprint %s, the manifest declares %s",
			train.Name, proof.FingerprintHex(train.Fingerprint()), m.Dataset.Fingerprint)
		return
	case train.Len() != m.Dataset.N:
		f.Reason = fmt.Sprintf("dataset %s has %d points, the manifest declares %d", train.Name, train.Len(), m.Dataset.N)
		return
	}
	f.FingerprintOK = true
	table, recorded := p.Table(), p.BatchHashes()
	hashes := train.PointHashes()
	var payHashes [][32]byte
	if pl := p.Payload(); pl != nil {
		payHashes = pl.PointHashes()
	}
	row := make([][32]byte, table.Batch)
	for t := 0; t < table.Steps; t++ {
		if t >= len(recorded) {
			f.FirstBadStep, f.Reason = t, fmt.Sprintf("step %d has no recorded batch hash", t)
			return
		}
		for j, idx := range table.Row(t) {
			h, ok := pointHash(hashes, payHashes, idx)
			if !ok {
				f.FirstBadStep, f.Reason = t, fmt.Sprintf("step %d: batch entry %d (index %d) names no point", t, j, idx)
				return
			}
			row[j] = h
		}
		if data.BatchHash(row) != recorded[t] {
			f.FirstBadStep, f.Reason = t, fmt.Sprintf("step %d: batch hash recomputed from the indexed points differs from the recorded one", t)
			return
		}
	}
}

func pointHash(train, payload [][32]byte, idx int32) ([32]byte, bool) {
	if idx >= 0 {
		if int(idx) >= len(train) {
			return [32]byte{}, false
		}
		return train[idx], true
	}
	j := int(-int64(idx) - 1)
	if j >= len(payload) {
		return [32]byte{}, false
	}
	return payload[j], true
}

// checkMembership counts the distinct payload points the table references and those whose
// hash is not a point of the declared dataset.
func checkMembership(ev *Evidence, p *proof.Proof, train *data.Dataset) {
	f := &ev.Membership
	f.Checked = true
	f.FirstForeignStep = -1
	payload := p.Payload()
	if payload == nil {
		return
	}
	seen := make(map[int]bool)
	table := p.Table()
	for t := 0; t < table.Steps; t++ {
		for _, idx := range table.Row(t) {
			if idx >= 0 {
				continue
			}
			j := int(-int64(idx) - 1)
			if seen[j] || j >= payload.Len() {
				continue
			}
			seen[j] = true
			f.PayloadPoints++
			if !train.Contains(payload.PointHash(j)) {
				f.Foreign++
				if f.FirstForeignStep < 0 {
					f.FirstForeignStep = t
				}
			}
		}
	}
}

// scanCheckpoints reads every checkpoint once, in order, holding at most two besides W0:
// W0 and every checkpoint's optimizer state into src (what the checks collect from), and
// the update magnitude of every interval.
func scanCheckpoints(ctx context.Context, ev *Evidence, src *Source, ledger *autodiff.Ledger, progress func(int, int, string)) error {
	p, m, model := src.Proof, src.Manifest, src.Model
	n := p.NumCheckpoints()
	if n < 2 {
		return fmt.Errorf("proof has %d checkpoints: need at least 2", n)
	}
	ev.Intervals = make([]Interval, n-1)
	src.States = make([]CheckpointState, 0, n)
	epochs := stats.IntervalEpochs(stats.EpochRuleStart, proof.CheckpointSteps(m.Steps, m.K), m.Batch, m.Dataset.N, m.Epochs)
	return p.Scan(func(i int, prev, c *proof.Checkpoint) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verification cancelled: %w", err)
		}
		if len(c.Params) != model.NumParams() {
			return fmt.Errorf("checkpoint %d: %d parameters, model %s has %d", i, len(c.Params), model.Spec(), model.NumParams())
		}
		if i == 0 {
			src.W0, src.B0 = c.Params, c.Buffers
		}
		src.States = append(src.States, CheckpointState{Step: c.Step, LR: c.LR, HasMomentum: c.Momentum != nil})
		if prev != nil {
			t0 := time.Now()
			iv := &ev.Intervals[i-1]
			iv.Index, iv.Start, iv.End = i-1, prev.Step, c.Step
			iv.Epoch = epochs[i-1]
			iv.Update = stats.Distance(prev.Params, c.Params)
			ledger.AddOther(stats.DistanceFLOPs(len(c.Params)), time.Since(t0))
		}
		progress(i+1, n, "reading checkpoints")
		return nil
	})
}

// hparamsMismatch compares a checkpoint's stored optimizer state with the manifest's
// schedule; "" when they agree. The lr is stored as an exact decimal and the prover
// computes it as LRAt does, so agreement is checked to 1e-12 relative (a rounding margin,
// far below any lr change an attack could use).
func hparamsMismatch(c CheckpointState, h proof.Hyper) string {
	want := h.LRAt(c.Step)
	if !(math.Abs(c.LR-want) <= 1e-12*math.Abs(want)) {
		return fmt.Sprintf("stored lr %g, the manifest's schedule gives %g at step %d", c.LR, want, c.Step)
	}
	if (h.Momentum != 0) != c.HasMomentum {
		return fmt.Sprintf("momentum buffers %s but the manifest's momentum is %g", presence(c.HasMomentum), h.Momentum)
	}
	return ""
}

func presence(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

// reexecutor re-runs intervals of one proof in one env.
type reexecutor struct {
	p         *proof.Proof
	m         *proof.Manifest
	model     models.Model
	env       Env
	train     *data.Dataset
	ledger    *autodiff.Ledger
	dt        autodiff.DType
	sha       string
	augRoot   uint64
	noiseSeed uint64
}

func (r *reexecutor) newStepper() *prover.Stepper {
	s := prover.NewStepper(r.model, r.dt, r.train, r.p.Payload(), r.ledger)
	s.Microbatches = r.env.Microbatches
	s.Noise = r.env.Noise
	s.NoiseSeed = r.noiseSeed
	s.AugPad = r.m.Augment.Pad
	return s
}

// run re-executes interval i from its start checkpoint and returns the distance of the
// result to the end checkpoint.
func (r *reexecutor) run(ctx context.Context, s *prover.Stepper, i int, mode string, stepped func()) (reexecResult, error) {
	h := r.m.Hyper()
	c, err := r.p.Checkpoint(i)
	if err != nil {
		return reexecResult{}, fmt.Errorf("interval %d: start checkpoint: %w", i, err)
	}
	// Re-execution starts from the checkpoint's whole state, buffers (running statistics)
	// included.
	st := &prover.State{Step: c.Step, LR: c.LR, Params: c.Params, Momentum: c.Momentum, Buffers: c.Buffers}
	if mode == HparamsEnforceManifest {
		st.LR = h.LRAt(c.Step)
	}
	if h.Momentum != 0 && st.Momentum == nil {
		st.Momentum = make([]float64, len(st.Params))
	}
	// A state read in one precision and re-executed in the other starts from its rounding.
	s.DType().Round(st.Params)
	s.DType().Round(st.Momentum)
	s.DType().Round(st.Buffers)
	end := r.p.CheckpointStep(i + 1)
	table := r.p.Table()
	recorded := r.p.AugSeeds()
	for t := c.Step; t < end; t++ {
		if err := ctx.Err(); err != nil {
			return reexecResult{}, fmt.Errorf("interval %d: %w", i, err)
		}
		if t >= table.Steps {
			return reexecResult{}, fmt.Errorf("interval %d: step %d is past the batch table's %d steps", i, t, table.Steps)
		}
		augSeed := data.SubSeed(r.augRoot, "step", t)
		if !r.env.OwnAugment && recorded != nil && t < len(recorded) {
			augSeed = recorded[t]
		}
		if err := s.Step(st, h, table.Row(t), augSeed, r.m.Augment.Enabled); err != nil {
			// The verifier's own code runs the proof's claimed state and batches: a step that
			// cannot run (a state so large it would overflow, a batch naming no point) means
			// the claimed trajectory does not reproduce. It is a finding, not an error.
			inf := stats.Uniform(math.Inf(1))
			res := reexecResult{Raw: inf, Failure: err.Error()}
			if st.Buffers != nil {
				res.Buffers = &inf
			}
			return res, nil
		}
		stepped()
	}
	e, err := r.p.Checkpoint(i + 1)
	if err != nil {
		return reexecResult{}, fmt.Errorf("interval %d: end checkpoint: %w", i, err)
	}
	// Jia et al.'s distances are over the trainable parameters only; the re-executed buffers
	// are compared separately, reported and never decided on.
	t0 := time.Now()
	res := reexecResult{Raw: stats.Distance(st.Params, e.Params)}
	r.ledger.AddOther(stats.DistanceFLOPs(len(st.Params)), time.Since(t0))
	if st.Buffers != nil {
		t0 = time.Now()
		d := stats.Distance(st.Buffers, e.Buffers)
		res.Buffers = &d
		r.ledger.AddOther(stats.DistanceFLOPs(len(st.Buffers)), time.Since(t0))
	}
	return res, nil
}
