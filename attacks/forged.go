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
// dtype, batch size, optimizer hyperparameters, augmentation) is claimed from the target, so
// the forged proof makes exactly the honest run's claims.
type ForgedSpec struct {
	Producer string // descriptive, e.g. "attack:infinitesimal"
	Steps    int    // T'
	K        int    // checkpoint interval
	// Seed roots the forged proof's recorded seeds: the batch schedule uses
	// SubSeed(Seed, "data", 0), augmentation seeds SubSeed(Seed, "augment", 0).
	Seed  uint64
	Extra map[string]string // descriptive manifest notes
}

// Forged is a forged proof being written: its manifest, its real batch schedule (Jia et al.'s,
// over the real training set, truncated to T' rows) and the proof writer. All three spoofers
// write their proofs through it, so they claim and record things the same way.
type Forged struct {
	Manifest *proof.Manifest
	Table    data.Table
	AugSeeds []uint64 // per step, nil unless the target recorded augmentation seeds
	Hyper    proof.Hyper

	target *Target
	w      *proof.Writer
	start  time.Time
	dt     autodiff.DType
	buf    []float64
	zeros  []float64
}

// CreateForged starts a forged proof for t in directory out: the manifest claims the target's
// model, dataset, dtype, batch size, hyperparameters and augmentation, with s.Steps steps
// checkpointed every s.K; the batch table is a genuine PoL schedule over the real training
// points (epochs = ceil(T'·B/N), truncated to T' rows), written at once with its hashes.
func (t *Target) CreateForged(out string, s ForgedSpec) (*Forged, error) {
	tm := t.Manifest
	n, b := t.Train.Len(), tm.Batch
	if s.Steps <= 0 || s.K <= 0 {
		return nil, fmt.Errorf("forged proof: steps %d and k %d must be positive", s.Steps, s.K)
	}
	epochs := (s.Steps*b + n - 1) / n
	if data.ScheduleSteps(n, b, epochs) < s.Steps {
		return nil, fmt.Errorf("forged proof: %d steps of batch %d over %d points do not fit a batch table", s.Steps, b, n)
	}
	m := proof.NewManifest(tm.Model, tm.Dataset.Name, t.DType, tm.Hyper())
	m.Optimizer.Milestones = append([]int(nil), tm.Optimizer.Milestones...)
	m.Producer = s.Producer
	m.Dataset = tm.Dataset
	m.Dataset.Shape = append([]int(nil), tm.Dataset.Shape...)
	m.Batch, m.Epochs, m.Steps, m.K = b, epochs, s.Steps, s.K
	m.Schedule = proof.SchedulePrefix
	m.Augment = tm.Augment
	m.Seeds = proof.Seeds{Init: s.Seed, Data: data.SubSeed(s.Seed, "data", 0), Augment: data.SubSeed(s.Seed, "augment", 0)}
	if len(s.Extra) > 0 {
		m.Extra = maps.Clone(s.Extra)
	}

	full := data.Schedule(n, b, epochs, m.Seeds.Data)
	table := data.Table{Steps: s.Steps, Batch: b, Idx: full.Idx[:s.Steps*b]}
	hashes := make([][32]byte, s.Steps)
	ph := make([][32]byte, b)
	for step := range hashes {
		for j, idx := range table.Row(step) {
			ph[j] = t.Train.PointHash(int(idx))
		}
		hashes[step] = data.BatchHash(ph)
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
	if err := w.WriteIndices(table, hashes, augSeeds); err != nil {
		w.Close()
		return nil, fmt.Errorf("forged proof: %w", err)
	}
	f := &Forged{Manifest: w.Manifest(), Table: table, AugSeeds: augSeeds, Hyper: m.Hyper(),
		target: t, w: w, start: time.Now(), dt: t.DType}
	return f, nil
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

// WriteCheckpoint stores the state before update step: params rounded to the run's dtype, the
// claimed lr, and the momentum buffers (zeros when momentum is nil and the claimed run has
// momentum; ignored when it has none).
func (f *Forged) WriteCheckpoint(step int, lr float64, params, momentum []float64) error {
	if len(f.buf) != len(params) {
		f.buf = make([]float64, len(params))
	}
	copy(f.buf, params)
	f.dt.Round(f.buf)
	c := &proof.Checkpoint{Step: step, LR: lr, Params: f.buf}
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
