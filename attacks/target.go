package attacks

import (
	"errors"
	"fmt"
	"math"

	"pollab/autodiff"
	"pollab/data"
	"pollab/models"
	"pollab/proof"
)

// Target is what an attacker holds: the stolen final model W_T, the claims of the honest
// proof it was taken from (architecture, dataset, dtype, batch size, optimizer
// hyperparameters, k), the training data, and what honest training cost.
type Target struct {
	Model models.Model
	Final []float64 // W_T, flat
	// Buffers are W_T's buffers (BatchNorm running statistics, flat; nil for a model without
	// buffers): the reference attacks copy them into W'0 with the untested parameters.
	Buffers []float64
	// Manifest is the target proof's manifest: the source of every hyperparameter a forged
	// proof claims. NewTarget and LoadTargetFile synthesise one from the given claims and Jia
	// et al.'s defaults.
	Manifest *proof.Manifest
	Train    *data.Dataset
	DType    autodiff.DType
	// HonestCost is the honest prover's Cost (the ledger in its provenance.json) over
	// HonestSteps steps; zero HonestSteps means it is unknown and cost fractions use the
	// analytic estimate.
	HonestCost  autodiff.Cost
	HonestSteps int
	// Source names where W_T came from (a proof directory or a safetensors file).
	Source string
}

// LoadTarget reads an honest proof directory: W_T is its last checkpoint, the claims are its
// manifest, the dataset is loaded by its declared name and checked against the manifest's
// fingerprint, and the honest cost is its ledger.
func LoadTarget(dir string) (*Target, error) {
	p, err := proof.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	m := p.Manifest()
	last, err := p.Checkpoint(p.NumCheckpoints() - 1)
	if err != nil {
		return nil, fmt.Errorf("target %s: final checkpoint: %w", dir, err)
	}
	model, err := models.Parse(m.Model)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", dir, err)
	}
	dt, err := m.RunDType()
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", dir, err)
	}
	train, err := data.Load(m.Dataset.Name, data.Train)
	if err != nil {
		return nil, fmt.Errorf("target %s: dataset: %w", dir, err)
	}
	want, err := m.ParseFingerprint()
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", dir, err)
	}
	if train.Fingerprint() != want || train.Len() != m.Dataset.N {
		return nil, fmt.Errorf("target %s: dataset %s as loaded here (%d points) does not match the proof's fingerprint (%d points)", dir, m.Dataset.Name, train.Len(), m.Dataset.N)
	}
	t := &Target{Model: model, Final: last.Params, Buffers: last.Buffers, Manifest: cloneManifest(m), Train: train, DType: dt, Source: dir}
	if c, ok := p.Cost(); ok {
		t.HonestCost, t.HonestSteps = c, m.Steps
	}
	return t, nil
}

// Jia et al.'s reference defaults, claimed when the target comes without a proof.
const (
	DefaultBatch = 128
	DefaultLR    = 0.01
	DefaultK     = 100
)

// NewTarget builds a Target from bare parts: final weights wT of model (a stolen model file,
// or a test's), trained on train in dtype dt, claiming plain SGD with hyperparameters h and
// batch size batch (Jia et al.'s MNIST setting when h is the zero Hyper: lr 0.01). A model
// with buffers gets its initial buffers (models.InitBuffers); set Buffers to W_T's when known.
func NewTarget(model models.Model, wT []float64, train *data.Dataset, dt autodiff.DType, h proof.Hyper, batch int) (*Target, error) {
	if len(wT) != model.NumParams() {
		return nil, fmt.Errorf("target: %d weights, model %s has %d parameters", len(wT), model.Spec(), model.NumParams())
	}
	for i, v := range wT {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("target: weight %d is %v", i, v)
		}
	}
	if train == nil || train.Len() == 0 {
		return nil, errors.New("target: no training data")
	}
	if err := train.Fits(model.Spec(), model.InputShape(), model.Classes()); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if h.LR == 0 {
		h.LR = DefaultLR
	}
	if batch <= 0 {
		batch = DefaultBatch
	}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("target: hyperparameters: %w", err)
	}
	m := proof.NewManifest(model.Spec(), train.Name, dt, h)
	m.Producer = "honest"
	m.Dataset.N = train.Len()
	m.Dataset.Fingerprint = proof.FingerprintHex(train.Fingerprint())
	m.Dataset.Shape = append([]int(nil), train.Shape...)
	m.Dataset.Classes = train.Classes
	m.Batch = batch
	m.K = DefaultK
	m.Epochs = 1
	m.Steps = max(1, data.ScheduleSteps(train.Len(), batch, 1))
	buffers := models.InitBuffers(model)
	dt.Round(buffers)
	return &Target{Model: model, Final: append([]float64(nil), wT...), Buffers: buffers, Manifest: m, Train: train, DType: dt, Source: "weights"}, nil
}

// Claims are the training claims of a target that comes without a proof (a bare safetensors
// file): what the forged proof's manifest copies. Zero fields take Jia et al.'s defaults.
type Claims struct {
	Hyper  proof.Hyper // SGD hyperparameters; zero LR: DefaultLR
	Batch  int         // batch size; 0: DefaultBatch
	Epochs int         // epochs of the honest run; 0: 1 (steps = floor(E·N/B))
	K      int         // checkpoint interval; 0: DefaultK
	// DType is the run's dtype ("f32" or "f64"); "" takes the file's. Weights stored in f64
	// and claimed f32 are rounded to float32.
	DType string
}

// LoadTargetFile reads a target from a bare safetensors file: W_T is the model's tensors
// (proof.ReadWeights: a checkpoint, or a PyTorch state_dict saved with safetensors under the
// same names), modelSpec is its architecture and datasetName its training set (loaded here),
// and the claimed training comes from claims. There is no honest ledger, so cost fractions use
// the analytic per-step estimate.
func LoadTargetFile(path, modelSpec, datasetName string, claims Claims) (*Target, error) {
	model, err := models.Parse(modelSpec)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", path, err)
	}
	weights, err := proof.ReadWeights(path, model)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	wT, dt := weights.Params, weights.DType
	if claims.DType != "" {
		if dt, err = autodiff.ParseDType(claims.DType); err != nil {
			return nil, fmt.Errorf("target %s: claimed dtype: %w", path, err)
		}
		dt.Round(wT)
		dt.Round(weights.Buffers)
	}
	if claims.Batch < 0 || claims.Epochs < 0 || claims.K < 0 {
		return nil, fmt.Errorf("target %s: claimed batch %d, epochs %d, k %d: want >= 0 (0 for the default)", path, claims.Batch, claims.Epochs, claims.K)
	}
	train, err := data.Load(datasetName, data.Train)
	if err != nil {
		return nil, fmt.Errorf("target %s: dataset: %w", path, err)
	}
	t, err := NewTarget(model, wT, train, dt, claims.Hyper, claims.Batch)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", path, err)
	}
	t.Buffers = weights.Buffers
	m := t.Manifest
	if claims.Epochs > 0 {
		m.Epochs = claims.Epochs
	}
	if m.Steps = data.ScheduleSteps(train.Len(), m.Batch, m.Epochs); m.Steps < 1 {
		return nil, fmt.Errorf("target %s: %d epochs of batch %d over %d points is no step", path, m.Epochs, m.Batch, train.Len())
	}
	if claims.K > 0 {
		m.K = claims.K
	}
	t.Source = path
	return t, nil
}

// HonestStep is the cost of one honest training step: the target's ledger over its steps,
// or, when unknown, the analytic estimate (one gradient, 3·F·B FLOPs, plus the optimizer's
// 6 FLOPs per parameter) with no wall time.
func (t *Target) HonestStep() (flops float64, wallSeconds float64, measured bool) {
	if t.HonestSteps > 0 {
		c := t.HonestCost
		n := float64(t.HonestSteps)
		return (c.FLOPs + c.Other) / n, c.Wall.Seconds() / n, true
	}
	b := float64(t.Manifest.Batch)
	return float64(3*t.Model.FLOPsPerSample()*b) + float64(6*float64(t.Model.NumParams())), 0, false
}

// StepsPerEpoch is N/B, the number of steps of one epoch of the claimed schedule.
func (t *Target) StepsPerEpoch() float64 {
	return float64(t.Train.Len()) / float64(t.Manifest.Batch)
}

func cloneManifest(m *proof.Manifest) *proof.Manifest {
	c := *m
	c.Optimizer.Milestones = append([]int(nil), m.Optimizer.Milestones...)
	c.Dataset.Shape = append([]int(nil), m.Dataset.Shape...)
	c.Files = proof.Files{}
	c.Checkpoints = nil
	c.Extra = nil
	return &c
}
