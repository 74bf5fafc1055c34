package attacks

import (
	"fmt"
	"maps"
	"time"

	"pollab/autodiff"
	"pollab/data"
	"pollab/proof"
)

// ForgedSpec is what a spoofer decides about its proof. Everything else (model, dataset,
// dtype, augmentation, and unless overridden batch size and optimizer hyperparameters) is
// claimed from the target, so the forged proof makes exactly the honest run's claims.
type ForgedSpec struct {
	Producer string // descriptive, e.g. "attack:infinitesimal"
	Steps    int    // T'
	K        int    // checkpoint interval
	// Seed roots the forged proof's recorded seeds: the batch schedule uses
	// SubSeed(Seed, "data", 0), augmentation seeds SubSeed(Seed, "augment", 0).
	Seed  uint64
	Extra map[string]string // descriptive manifest notes
	// Crafted: the batch table is no schedule but the batches of crafted points the attack
	// appends step by step (AppendBatch; they go to the proof's payload), and Finish writes
	// it. The recorded data seed is then Seed itself, the root of the attack's own draws.
	Crafted bool
	// Batch and Hyper override the claimed batch size and optimizer hyperparameters (Zhang
	// et al.'s attacker may claim others); 0 and nil claim the target's.
	Batch int
	Hyper *proof.Hyper
	// CommittedInit records the init seed an honest prover with root seed Seed records,
	// CommittedInitSeed(Seed), for a proof whose W0 is that seed's honest init (InitCommitted);
	// otherwise the recorded init seed is Seed itself, which no W0 of the proof derives from.
	CommittedInit bool
}

// Forged is a forged proof being written: its manifest, its real batch schedule (Jia et al.'s,
// over the real training set, truncated to T' rows) and the proof writer. All three spoofers
// write their proofs through it, so they claim and record things the same way.
type Forged struct {
	Manifest *proof.Manifest
	Table    data.Table
	AugSeeds []uint64 // per step, nil unless the target recorded augmentation seeds
	Hyper    proof.Hyper
	// Payload holds the crafted points appended so far (Crafted proofs; nil otherwise), as
	// the proof stores them: what a re-execution reads for payload rows.
	Payload *data.Dataset

	hashes [][32]byte // per appended step (Crafted)

	target *Target
	w      *proof.Writer
	start  time.Time
	dt     autodiff.DType
	buf    []float64
	bufs   []float64
	zeros  []float64
}

// CreateForged starts a forged proof for t in directory out: the manifest claims the target's
// model, dataset, dtype, batch size, hyperparameters and augmentation (batch size and
// hyperparameters as s overrides them), with s.Steps steps checkpointed every s.K; the batch
// table is a genuine PoL schedule over the real training points (epochs = ceil(T'·B/N),
// truncated to T' rows), written at once with its hashes, or, for s.Crafted, the batches the
// attack appends (AppendBatch), written by Finish.
func (t *Target) CreateForged(out string, s ForgedSpec) (*Forged, error) {
	tm := t.Manifest
	n, b := t.Train.Len(), tm.Batch
	if s.Batch > 0 {
		b = s.Batch
	}
	h := tm.Hyper()
	if s.Hyper != nil {
		h = *s.Hyper
	}
	if s.Steps <= 0 || s.K <= 0 {
		return nil, fmt.Errorf("forged proof: steps %d and k %d must be positive", s.Steps, s.K)
	}
	epochs := (s.Steps*b + n - 1) / n
	if !s.Crafted && data.ScheduleSteps(n, b, epochs) < s.Steps {
		return nil, fmt.Errorf("forged proof: %d steps of batch %d over %d points do not fit a batch table", s.Steps, b, n)
	}
	m := proof.NewManifest(tm.Model, tm.Dataset.Name, t.DType, h)
	m.Optimizer.Milestones = append([]int(nil), h.Milestones...)
	m.Producer = s.Producer
	m.Dataset = tm.Dataset
	m.Dataset.Shape = append([]int(nil), tm.Dataset.Shape...)
	m.Batch, m.Epochs, m.Steps, m.K = b, epochs, s.Steps, s.K
	m.Schedule = proof.SchedulePrefix
	m.Augment = tm.Augment
	m.Seeds = proof.Seeds{Init: s.Seed, Data: data.SubSeed(s.Seed, "data", 0), Augment: data.SubSeed(s.Seed, "augment", 0)}
	if s.CommittedInit {
		m.Seeds.Init = CommittedInitSeed(s.Seed)
	}
	if s.Crafted {
		m.Seeds.Data = s.Seed
		if !m.Augment.Enabled {
			m.Seeds.Augment = 0
		}
	}
	if len(s.Extra) > 0 {
		m.Extra = maps.Clone(s.Extra)
	}
	var augSeeds []uint64
	if m.Augment.SeedsRecorded {
		augSeeds = make([]uint64, s.Steps)
		for step := range augSeeds {
			augSeeds[step] = data.SubSeed(m.Seeds.Augment, "step", step)
		}
	}

	w, err := proof.Create(out, m)
	if err != nil {
		return nil, fmt.Errorf("forged proof: %w", err)
	}
	f := &Forged{Manifest: w.Manifest(), AugSeeds: augSeeds, Hyper: m.Hyper(),
		target: t, w: w, start: time.Now(), dt: t.DType}
	if s.Crafted {
		f.Table = data.Table{Steps: s.Steps, Batch: b, Idx: make([]int32, 0, s.Steps*b)}
		if f.Payload, err = data.NewDataset("payload", t.Train.Shape, t.Train.Classes, data.F32, nil, nil); err != nil {
			w.Close()
			return nil, fmt.Errorf("forged proof: payload: %w", err)
		}
		return f, nil
	}
	full := data.Schedule(n, b, epochs, m.Seeds.Data)
	f.Table = data.Table{Steps: s.Steps, Batch: b, Idx: full.Idx[:s.Steps*b]}
	hashes := make([][32]byte, s.Steps)
	ph := make([][32]byte, b)
	for step := range hashes {
		for j, idx := range f.Table.Row(step) {
			ph[j] = t.Train.PointHash(int(idx))
		}
		hashes[step] = data.BatchHash(ph)
	}
	if err := w.WriteIndices(f.Table, hashes, augSeeds); err != nil {
		w.Close()
		return nil, fmt.Errorf("forged proof: %w", err)
	}
	return f, nil
}

// AppendBatch records the next step's batch of a Crafted proof: points (B rows of the
// dataset's dimension) and labels go to the proof's payload and to f.Payload (both round to
// float32 identically), and the returned row indexes them as the batch table will.
func (f *Forged) AppendBatch(points []float64, labels []int) ([]int32, error) {
	if f.Payload == nil {
		return nil, fmt.Errorf("forged proof: AppendBatch on a proof whose batches are a schedule")
	}
	b := len(labels)
	if b != f.Table.Batch || len(f.hashes) >= f.Table.Steps || len(points) != b*f.Payload.Dim() {
		return nil, fmt.Errorf("forged proof: batch of %d points (%d values) at step %d: want %d points of %d values, %d steps",
			b, len(points), len(f.hashes), f.Table.Batch, f.Payload.Dim(), f.Table.Steps)
	}
	dim := f.Payload.Dim()
	row := make([]int32, b)
	ph := make([][32]byte, b)
	for j := range row {
		x := points[j*dim : (j+1)*dim]
		idx, err := f.w.AppendPayload(x, labels[j])
		if err != nil {
			return nil, fmt.Errorf("forged proof: %w", err)
		}
		data.AppendF32(f.Payload, x, labels[j])
		if want := -int32(f.Payload.Len()); idx != want {
			return nil, fmt.Errorf("forged proof: payload index %d from the writer, %d in memory", idx, want)
		}
		row[j] = idx
		ph[j] = f.Payload.PointHash(f.Payload.Len() - 1)
	}
	f.Table.Idx = append(f.Table.Idx, row...)
	f.hashes = append(f.hashes, data.BatchHash(ph))
	return row, nil
}

// AppendRows records the next step's batch of a Crafted proof as real training points,
// row indexing the declared dataset (no payload): an attacker restricted to real points.
func (f *Forged) AppendRows(row []int32) error {
	if f.Payload == nil {
		return fmt.Errorf("forged proof: AppendRows on a proof whose batches are a schedule")
	}
	if len(row) != f.Table.Batch || len(f.hashes) >= f.Table.Steps {
		return fmt.Errorf("forged proof: batch of %d points at step %d: want %d points, %d steps", len(row), len(f.hashes), f.Table.Batch, f.Table.Steps)
	}
	ph := make([][32]byte, len(row))
	for j, i := range row {
		if i < 0 || int(i) >= f.target.Train.Len() {
			return fmt.Errorf("forged proof: point %d is not in the training set of %d points", i, f.target.Train.Len())
		}
		ph[j] = f.target.Train.PointHash(int(i))
	}
	f.Table.Idx = append(f.Table.Idx, row...)
	f.hashes = append(f.hashes, data.BatchHash(ph))
	return nil
}

// Batch returns step's recorded batch, its augmentation seed and whether the claimed run
// augments: exactly what a re-executing verifier feeds prover.Stepper.Step.
func (f *Forged) Batch(step int) ([]int32, uint64, bool) {
	var seed uint64
	if f.AugSeeds != nil {
		seed = f.AugSeeds[step]
	}
	return f.Table.Row(step), seed, f.Manifest.Augment.Enabled
}

// CheckpointSteps lists the steps that need a checkpoint: 0, k, 2k, ..., T'.
func (f *Forged) CheckpointSteps() []int {
	return proof.CheckpointSteps(f.Manifest.Steps, f.Manifest.K)
}

// WriteCheckpoint stores the state before update step: params and buffers (the model's
// running statistics; nil for a model without) rounded to the run's dtype, the claimed lr, and
// the momentum buffers (zeros when momentum is nil and the claimed run has momentum; ignored
// when it has none).
func (f *Forged) WriteCheckpoint(step int, lr float64, params, momentum, buffers []float64) error {
	if len(f.buf) != len(params) {
		f.buf = make([]float64, len(params))
	}
	copy(f.buf, params)
	f.dt.Round(f.buf)
	f.bufs = append(f.bufs[:0], buffers...)
	f.dt.Round(f.bufs)
	c := &proof.Checkpoint{Step: step, LR: lr, Params: f.buf}
	if buffers != nil {
		c.Buffers = f.bufs
	}
	if f.Hyper.Momentum != 0 {
		if momentum == nil {
			if len(f.zeros) != len(params) {
				f.zeros = make([]float64, len(params))
			}
			momentum = f.zeros
		}
		c.Momentum = momentum
	}
	if err := f.w.WriteCheckpoint(c); err != nil {
		return fmt.Errorf("forged proof: %w", err)
	}
	return nil
}

// Finish writes the ledger (cost), the provenance and, last, the manifest, and returns the
// Result with the cost fraction against honest training of the same steps.
func (f *Forged) Finish(attack, out string, cost autodiff.Cost, opt Options, notes map[string]string) (*Result, error) {
	if f.Payload != nil {
		if len(f.hashes) != f.Table.Steps {
			return nil, fmt.Errorf("forged proof: %d of %d crafted batches appended", len(f.hashes), f.Table.Steps)
		}
		if err := f.w.WriteIndices(f.Table, f.hashes, f.AugSeeds); err != nil {
			return nil, fmt.Errorf("forged proof: %w", err)
		}
	}
	prov := &proof.Provenance{Command: opt.Command, Start: f.start, End: time.Now(),
		Notes: fmt.Sprintf("forged by %s from %s", attack, f.target.Source)}
	if err := f.w.Finish(prov, cost); err != nil {
		return nil, fmt.Errorf("forged proof: %w", err)
	}
	steps := f.Manifest.Steps
	return &Result{
		Attack: attack, Out: out, Cost: cost, Steps: steps, K: f.Manifest.K,
		Checkpoints:  len(f.CheckpointSteps()),
		CostFraction: CostFraction(cost, f.target, steps),
		Notes:        notes,
	}, nil
}

// Close abandons an unfinished forged proof.
func (f *Forged) Close() error { return f.w.Close() }
