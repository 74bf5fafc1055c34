package prover

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"pollab/autodiff"
	"pollab/data"
	"pollab/models"
	"pollab/proof"
)

// Producer is the manifest's producer tag for honest proofs (descriptive only).
const Producer = "honest"

// Config is one honest training run: everything that determines the proof's bytes.
type Config struct {
	Model   string // models.Parse spec
	Dataset string // data.Load name
	DType   autodiff.DType
	Hyper   proof.Hyper // milestones in steps (see MilestoneSteps)
	Batch   int
	Epochs  int
	K       int // checkpoint interval
	Seed    uint64
	// Augment applies random crop (padding AugPad, 0 means DefaultAugPad) and horizontal flip;
	// RecordAugSeeds writes the per-step seeds into the proof (otherwise an honest
	// re-execution cannot reproduce them, as with the reference code).
	Augment        bool
	AugPad         int
	RecordAugSeeds bool
	// CommitNonce, when set, records a seed commitment (proof.SeedCommitment) under this
	// nonce, supplied by the verifier or fixed by the task before training; empty: none.
	CommitNonce string `json:",omitempty"`
}

// Options control how Train runs, not what it computes.
type Options struct {
	// Resume continues an interrupted run in out from its last valid checkpoint.
	Resume bool
	// Progress, when set, is called after every step with (steps done, T, note).
	Progress func(done, total int, note string)
	// StopAfter, when positive, stops the run (as if killed, leaving a resumable proof) right
	// after the checkpoint of the first checkpoint step >= StopAfter is on disk. For tests.
	StopAfter int
	// Command is the command line recorded in provenance.json; Version the pollab version.
	Command []string
	Version string
}

// ErrStopped is returned by Train when Options.StopAfter ended the run early.
var ErrStopped = errors.New("training stopped early on request (resumable)")

// Result summarises a finished run.
type Result struct {
	Out          string
	Model        string
	Dataset      string
	Steps        int // T
	Checkpoints  int
	ResumedFrom  int // step the run continued from; -1 for a fresh run
	TestAccuracy float64
	TestPoints   int
	Cost         autodiff.Cost // the run's whole training work (see Train on resume), no evaluation
	EvalCost     autodiff.Cost // the final test-set evaluation (this process)
	Wall         time.Duration // wall time of this process's run
	Final        []float64     // W_T
}

// run is a prepared training run: model, data, schedule and stepper.
type run struct {
	cfg      Config
	model    models.Model
	train    *data.Dataset
	test     *data.Dataset
	table    data.Table
	steps    int
	stepper  *Stepper
	ledger   *autodiff.Ledger
	initSeed uint64
	dataSeed uint64
}

// MilestoneSteps converts milestones given in epochs to steps as the reference code's
// train.py does, Python's round(m * (n / batch)): halves round to even, so CIFAR-10's epoch
// 100 at batch 128 is step 39,062 (100 · 390.625 = 39,062.5), not 39,063.
func MilestoneSteps(epochs []float64, n, batch int) []int {
	out := make([]int, 0, len(epochs))
	perEpoch := float64(n) / float64(batch)
	for _, e := range epochs {
		out = append(out, int(math.RoundToEven(e*perEpoch)))
	}
	return out
}

// AugSeed is the augmentation seed of step t of a run with root seed seed.
func AugSeed(seed uint64, t int) uint64 { return data.SubSeed(seed, "augment", t) }

func (c Config) validate() error {
	switch {
	case c.Batch <= 0:
		return fmt.Errorf("batch %d is not positive", c.Batch)
	case c.Epochs <= 0:
		return fmt.Errorf("epochs %d is not positive", c.Epochs)
	case c.K <= 0:
		return fmt.Errorf("checkpoint interval k %d is not positive", c.K)
	case c.AugPad < 0:
		return fmt.Errorf("augmentation pad %d is negative", c.AugPad)
	case c.RecordAugSeeds && !c.Augment:
		return errors.New("recording augmentation seeds needs augmentation")
	case c.DType != autodiff.Float32 && c.DType != autodiff.Float64:
		return fmt.Errorf("dtype %v is not f32 or f64", c.DType)
	case !(c.Hyper.LR > 0):
		return fmt.Errorf("lr %v is not positive", c.Hyper.LR)
	}
	if c.CommitNonce != "" {
		if err := proof.CheckNonce(c.CommitNonce); err != nil {
			return err
		}
	}
	if err := c.Hyper.Validate(); err != nil {
		return err
	}
	return nil
}

func (c Config) augPad() int {
	if c.AugPad == 0 {
		return DefaultAugPad
	}
	return c.AugPad
}

// Setup resolves what a run trains: the model of modelSpec (models.Parse) and the training
// and test splits of dataset (data.Load), which must fit the model (data.Dataset.Fits).
func Setup(modelSpec, dataset string) (m models.Model, train, test *data.Dataset, err error) {
	if m, err = models.Parse(modelSpec); err != nil {
		return nil, nil, nil, err
	}
	if train, err = data.Load(dataset, data.Train); err != nil {
		return nil, nil, nil, err
	}
	if test, err = data.Load(dataset, data.Test); err != nil {
		return nil, nil, nil, err
	}
	if err := train.Fits(m.Spec(), m.InputShape(), m.Classes()); err != nil {
		return nil, nil, nil, err
	}
	return m, train, test, nil
}

// prepare loads the data and model and builds the schedule; no files are touched.
func prepare(cfg Config) (*run, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("train config: %w", err)
	}
	m, train, test, err := Setup(cfg.Model, cfg.Dataset)
	if err != nil {
		return nil, err
	}
	if cfg.Batch > train.Len() {
		return nil, fmt.Errorf("batch %d exceeds the %d training points of %s", cfg.Batch, train.Len(), train.Name)
	}
	steps := data.ScheduleSteps(train.Len(), cfg.Batch, cfg.Epochs)
	if steps <= 0 {
		return nil, fmt.Errorf("%d epochs of %d points at batch %d give no steps (or too many)", cfg.Epochs, train.Len(), cfg.Batch)
	}
	r := &run{
		cfg:      cfg,
		model:    m,
		train:    train,
		test:     test,
		steps:    steps,
		ledger:   autodiff.NewLedger(),
		initSeed: data.SubSeed(cfg.Seed, "init", 0),
		dataSeed: data.SubSeed(cfg.Seed, "data", 0),
	}
	r.table = data.Schedule(train.Len(), cfg.Batch, cfg.Epochs, r.dataSeed)
	if r.table.Steps != steps {
		return nil, fmt.Errorf("schedule has %d steps, want %d", r.table.Steps, steps)
	}
	r.stepper = NewStepper(m, cfg.DType, train, nil, r.ledger)
	r.stepper.AugPad = cfg.augPad()
	return r, nil
}

// initial is the state before step 0: W0 from the init law, zero momentum buffers (PyTorch has
// no buffer yet; mu·0 + d = d makes the first update identical), the model's initial buffers
// (running mean 0, variance 1), the base lr.
func (r *run) initial() *State {
	w0 := models.Init(r.model, r.initSeed)
	r.cfg.DType.Round(w0)
	st := &State{Step: 0, LR: r.cfg.Hyper.LRAt(0), Params: w0, Buffers: models.InitBuffers(r.model)}
	r.cfg.DType.Round(st.Buffers)
	if r.cfg.Hyper.Momentum != 0 {
		st.Momentum = make([]float64, len(w0))
	}
	return st
}

// manifest describes the run for proof.Create.
func (r *run) manifest() *proof.Manifest {
	m := proof.NewManifest(r.model.Spec(), r.train.Name, r.cfg.DType, r.cfg.Hyper)
	m.Producer = Producer
	m.Dataset.N = r.train.Len()
	m.Dataset.Fingerprint = proof.FingerprintHex(r.train.Fingerprint())
	m.Dataset.Shape = append([]int(nil), r.train.Shape...)
	m.Dataset.Classes = r.train.Classes
	m.Batch, m.Epochs, m.Steps, m.K = r.cfg.Batch, r.cfg.Epochs, r.steps, r.cfg.K
	m.Augment = proof.AugmentInfo{Enabled: r.cfg.Augment, SeedsRecorded: r.cfg.RecordAugSeeds}
	if r.cfg.Augment {
		m.Augment.Pad = r.cfg.augPad()
	}
	// Per-step augmentation seeds are never derivable from the manifest: they are either in
	// augseeds.bin or deliberately absent, so Seeds.Augment stays 0.
	m.Seeds = proof.Seeds{Init: r.initSeed, Data: r.dataSeed}
	if r.cfg.CommitNonce != "" {
		m.Commitment = &proof.SeedCommitment{Nonce: r.cfg.CommitNonce, SHA256: proof.CommitSeeds(m.Seeds, r.cfg.CommitNonce)}
	}
	return m
}

// batchHashes hashes every row of the table over the training set's point hashes.
func (r *run) batchHashes() [][32]byte {
	ph := r.train.PointHashes()
	out := make([][32]byte, r.steps)
	row := make([][32]byte, r.cfg.Batch)
	for t := range r.steps {
		for j, i := range r.table.Row(t) {
			row[j] = ph[i]
		}
		out[t] = data.BatchHash(row)
	}
	return out
}

func (r *run) augSeeds() []uint64 {
	if !r.cfg.RecordAugSeeds {
		return nil
	}
	s := make([]uint64, r.steps)
	for t := range s {
		s[t] = AugSeed(r.cfg.Seed, t)
	}
	return s
}

// loop trains from st to T, calling checkpoint at every checkpoint step after the start
// (0, k, 2k, ..., T); checkpoint may be nil.
func (r *run) loop(ctx context.Context, st *State, opt Options, checkpoint func(*State) error) error {
	for st.Step < r.steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("training interrupted before step %d: %w", st.Step, err)
		}
		t := st.Step
		if err := r.stepper.Step(st, r.cfg.Hyper, r.table.Row(t), AugSeed(r.cfg.Seed, t), r.cfg.Augment); err != nil {
			return err
		}
		if st.Step%r.cfg.K == 0 || st.Step == r.steps {
			if checkpoint != nil {
				if err := checkpoint(st); err != nil {
					return err
				}
			}
			if opt.StopAfter > 0 && st.Step >= opt.StopAfter && st.Step < r.steps {
				return ErrStopped
			}
		}
		if opt.Progress != nil {
			opt.Progress(st.Step, r.steps, "")
		}
	}
	return nil
}

// Accuracy is the fraction of the dataset's points the model classifies correctly, evaluated
// in chunks with the engine's forward pass in eval mode: a model with buffers normalises with
// buffers (its running statistics, set on e; nil for a model without), which it never changes.
func Accuracy(e *autodiff.Engine, m models.Model, params, buffers []float64, ds *data.Dataset) (float64, error) {
	if ds.Len() == 0 {
		return 0, errors.New("accuracy: empty dataset")
	}
	if buffers != nil || e.NumBuffers() > 0 {
		if err := e.SetBuffers(buffers); err != nil {
			return 0, fmt.Errorf("accuracy on %s: %w", ds.Name, err)
		}
	}
	const chunk = 1000
	dim, classes := ds.Dim(), m.Classes()
	x := make([]float64, chunk*dim)
	logits := make([]float64, chunk*classes)
	correct := 0
	for lo := 0; lo < ds.Len(); lo += chunk {
		hi := min(lo+chunk, ds.Len())
		b := hi - lo
		for j := range b {
			ds.Features(lo+j, x[j*dim:(j+1)*dim])
		}
		if err := e.Logits(params, x[:b*dim], logits[:b*classes]); err != nil {
			return 0, fmt.Errorf("accuracy on %s: %w", ds.Name, err)
		}
		for j := range b {
			row := logits[j*classes : (j+1)*classes]
			best := 0
			for c, v := range row {
				if v > row[best] {
					best = c
				}
			}
			if best == ds.Label(lo+j) {
				correct++
			}
		}
	}
	return float64(correct) / float64(ds.Len()), nil
}

// checkpointOf copies st into the proof's checkpoint type.
func checkpointOf(st *State) *proof.Checkpoint {
	return &proof.Checkpoint{Step: st.Step, LR: st.LR, Params: st.Params, Momentum: st.Momentum, Buffers: st.Buffers}
}

// stepCost is the ledger entry of one training step that an interrupted earlier process ran:
// one LossGrad on the batch plus the optimizer's axpys (the same counts the engine and the
// Stepper record; the wall time is unknown and stays out).
func (r *run) stepCost() autodiff.Cost {
	b := float64(r.cfg.Batch)
	f := r.model.FLOPsPerSample()
	return autodiff.Cost{Forward: 1, Backward: 1, Samples: int64(r.cfg.Batch), FLOPs: 3 * f * b, Other: 6 * float64(r.model.NumParams())}
}

// Train runs cfg honestly and writes its proof to out: checkpoints at t = 0, k, 2k, ..., T
// stream to disk as training runs (memory stays O(model) plus the batch table), then
// provenance.json (with the final test accuracy, the training cost ledger and, beside it, the
// evaluation's cost) and the manifest.
//
// With opt.Resume, an unfinished proof in out is continued from its last valid checkpoint:
// the schedule and seeds are recomputed from cfg, so the proof is byte-identical to an
// uninterrupted run except for provenance.json (times, and the ledger's wall time; its counts
// include the steps the interrupted process ran, computed from the per-step cost). If out
// holds no unfinished proof, Resume starts a fresh one.
func Train(ctx context.Context, cfg Config, out string, opt Options) (*Result, error) {
	start := time.Now()
	r, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	man := r.manifest()
	var (
		w       *proof.Writer
		st      *State
		resumed = -1
	)
	if opt.Resume {
		var steps []int
		w, steps, err = proof.Resume(out, man)
		if err != nil {
			// Create refuses a directory holding a finished or an unfinished proof, so if it
			// succeeds there was nothing to resume (killed before the proof was created).
			if errors.Is(err, proof.ErrFinished) {
				return nil, err
			}
			var cerr error
			if w, cerr = proof.Create(out, man); cerr != nil {
				return nil, err
			}
		} else if len(steps) > 0 {
			last := slices.Max(steps)
			c, err := w.Checkpoint(last)
			if err != nil {
				w.Close()
				return nil, fmt.Errorf("resume from step %d: %w", last, err)
			}
			st = &State{Step: c.Step, LR: c.LR, Params: c.Params, Momentum: c.Momentum, Buffers: c.Buffers}
			if man.Optimizer.Momentum != 0 && st.Momentum == nil {
				st.Momentum = make([]float64, len(st.Params))
			}
			resumed = last
		}
	} else if w, err = proof.Create(out, man); err != nil {
		return nil, err
	}
	defer w.Close()
	fresh := st == nil
	if fresh {
		st = r.initial()
	}
	// Tables are small next to the run and never resumed: write them (again) now.
	if err := w.WriteIndices(r.table, r.batchHashes(), r.augSeeds()); err != nil {
		return nil, err
	}
	if fresh {
		if err := w.WriteCheckpoint(checkpointOf(st)); err != nil {
			return nil, err
		}
	}
	if opt.Progress != nil {
		opt.Progress(st.Step, r.steps, "")
	}
	err = r.loop(ctx, st, opt, func(s *State) error { return w.WriteCheckpoint(checkpointOf(s)) })
	if err != nil {
		return nil, err
	}
	if opt.Progress != nil {
		opt.Progress(r.steps, r.steps, "test accuracy")
	}
	// The proof's cost is training only: read the ledger before the test-set evaluation and
	// record the evaluation's own cost beside it.
	cost := r.ledger.Cost()
	acc, err := Accuracy(r.stepper.Engine(), r.model, st.Params, st.Buffers, r.test)
	if err != nil {
		return nil, err
	}
	evalCost := r.ledger.Cost().Sub(cost)
	if resumed > 0 {
		wall := cost.Wall
		skipped := r.stepCost()
		for range resumed {
			cost = cost.Add(skipped)
		}
		cost.Wall = wall
	}
	notes := fmt.Sprintf("test_accuracy=%.6f test_points=%d", acc, r.test.Len())
	if resumed >= 0 {
		notes += fmt.Sprintf(" resumed_from_step=%d (ledger wall time covers this process only)", resumed)
	}
	prov := &proof.Provenance{Pollab: opt.Version, Command: opt.Command, Start: start.UTC(), End: time.Now().UTC(), Notes: notes, Evaluation: &evalCost}
	if err := w.Finish(prov, cost); err != nil {
		return nil, err
	}
	return &Result{
		Out:          out,
		Model:        r.model.Spec(),
		Dataset:      r.train.Name,
		Steps:        r.steps,
		Checkpoints:  len(proof.CheckpointSteps(r.steps, r.cfg.K)),
		ResumedFrom:  resumed,
		TestAccuracy: acc,
		TestPoints:   r.test.Len(),
		Cost:         cost,
		EvalCost:     evalCost,
		Wall:         time.Since(start),
		Final:        st.Params,
	}, nil
}

// Calibrate trains cfg twice, with seeds[0] and seeds[1] and nothing else changed, without
// writing any proof, and returns both final weight vectors: the honest reference distance
// d_ref of the normalised verification thresholds is their distance. The two runs are
// sequential (one engine at a time on this machine's cores).
func Calibrate(ctx context.Context, cfg Config, seeds [2]uint64, opt Options) (finalA, finalB []float64, err error) {
	var finals [2][]float64
	for i, seed := range seeds {
		c := cfg
		c.Seed = seed
		r, err := prepare(c)
		if err != nil {
			return nil, nil, err
		}
		st := r.initial()
		o := opt
		o.StopAfter = 0
		if opt.Progress != nil {
			o.Progress = func(done, total int, note string) {
				opt.Progress(i*total+done, 2*total, fmt.Sprintf("calibration run %d/2", i+1))
			}
		}
		if err := r.loop(ctx, st, o, nil); err != nil {
			return nil, nil, fmt.Errorf("calibration run %d (seed %d): %w", i+1, seed, err)
		}
		finals[i] = st.Params
	}
	return finals[0], finals[1], nil
}
