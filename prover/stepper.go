package prover

import (
	"errors"
	"fmt"
	"math"

	"pollab/autodiff"
	"pollab/data"
	"pollab/models"
	"pollab/proof"
)

// DefaultAugPad is the zero padding of the random crop (torchvision's RandomCrop(32, padding=4)
// convention, used for every image dataset).
const DefaultAugPad = 4

// State is the training state before update Step: the lr in force for that update, the
// parameters, the momentum buffers (nil when the run has no momentum) and the model's buffers
// (models.BufferedModel's BatchNorm running statistics; nil for a model without buffers).
type State struct {
	Step     int
	LR       float64
	Params   []float64
	Momentum []float64
	Buffers  []float64
}

// Stepper runs SGD steps with PyTorch semantics (torch.optim.SGD, dampening 0, no Nesterov,
// followed by a per-iteration MultiStepLR). The honest prover and the verifier's re-execution
// use the same code; the exported fields select the verifier's deliberate deviations.
//
// A Stepper owns one autodiff.Engine and scratch buffers: not safe for concurrent use.
type Stepper struct {
	// Microbatches splits each batch into M contiguous micro-batches whose gradients are
	// summed weighted by size/B: the same gradient up to the reduction order. 0 or 1: whole batch.
	// With BatchNorm it is PyTorch's gradient accumulation, not the same gradient: each
	// micro-batch is its own training-mode forward, normalised by its own statistics, and in
	// Step each commits them to the running statistics (M momentum updates per step).
	Microbatches int
	// Noise adds Noise·(|g|₂/√n)·z to the gradient, z ~ N(0,1) drawn from a PCG seeded by
	// data.SubSeed(NoiseSeed, "noise", step). 0: no noise.
	Noise     float64
	NoiseSeed uint64
	// AugPad is the crop padding used when a step augments; 0 means DefaultAugPad.
	AugPad int

	model   models.Model
	dt      autodiff.DType
	engine  *autodiff.Engine
	ledger  *autodiff.Ledger
	train   *data.Dataset
	payload *data.Dataset

	dim    int
	x      []float64
	labels []int
	grad   []float64
	part   []float64
}

// NewStepper returns a Stepper for model m whose graph runs in dt. train is the declared
// dataset (batch entries i >= 0); payload holds the proof's extra points (entries i < 0 are
// payload point -i-1) and may be nil. Engine work is recorded in ledger (may be nil).
func NewStepper(m models.Model, dt autodiff.DType, train, payload *data.Dataset, ledger *autodiff.Ledger) *Stepper {
	dim := data.Features(m.InputShape())
	return &Stepper{
		model:   m,
		dt:      dt,
		engine:  autodiff.NewEngine(m, dt, ledger),
		ledger:  ledger,
		train:   train,
		payload: payload,
		dim:     dim,
		grad:    make([]float64, m.NumParams()),
	}
}

// DType is the dtype the Stepper's graph runs in (and rounds its updates to).
func (s *Stepper) DType() autodiff.DType { return s.dt }

// Engine exposes the Stepper's engine (for evaluating accuracy with the same compiled graphs).
func (s *Stepper) Engine() *autodiff.Engine { return s.engine }

// Gather decodes the batch's points into s's scratch buffers and returns features [B·dim] and
// labels [B]. Augmentation, when asked, uses seed data.SubSeed(augSeed, "point", j) for the
// j-th point of the batch. Out-of-range indices are errors (a proof is attacker input).
func (s *Stepper) Gather(batch []int32, augSeed uint64, augment bool) ([]float64, []int, error) {
	b := len(batch)
	if b == 0 {
		return nil, nil, errors.New("gather: empty batch")
	}
	if cap(s.x) < b*s.dim {
		s.x = make([]float64, b*s.dim)
		s.labels = make([]int, b)
	}
	x, labels := s.x[:b*s.dim], s.labels[:b]
	pad := s.AugPad
	if pad == 0 {
		pad = DefaultAugPad
	}
	for j, idx := range batch {
		ds, i := s.train, int(idx)
		if idx < 0 {
			ds, i = s.payload, int(-int64(idx)-1)
		}
		if ds == nil {
			return nil, nil, fmt.Errorf("gather: point %d of the batch is payload index %d but the proof has no payload", j, idx)
		}
		if i >= ds.Len() {
			return nil, nil, fmt.Errorf("gather: point %d of the batch: index %d out of range (%s has %d points)", j, idx, ds.Name, ds.Len())
		}
		if ds.Dim() != s.dim {
			return nil, nil, fmt.Errorf("gather: %s has points of dimension %d, model %s wants %d", ds.Name, ds.Dim(), s.model.Spec(), s.dim)
		}
		dst := x[j*s.dim : (j+1)*s.dim]
		ds.Features(i, dst)
		if augment {
			data.Augment(ds.Shape, dst, pad, data.SubSeed(augSeed, "point", j))
		}
		labels[j] = ds.Label(i)
	}
	return x, labels, nil
}

// Gradient computes the mean cross-entropy gradient of the batch at params into s's scratch
// gradient and returns it, honouring Microbatches and Noise. step seeds the noise. BatchNorm
// runs in training mode (batch statistics), but Gradient never changes the running statistics:
// it is for extra passes (an attacker's probe); only Step trains them.
func (s *Stepper) Gradient(params []float64, x []float64, labels []int, step int) ([]float64, float64, error) {
	return s.gradient(s.engine.LossGrad, params, x, labels, step)
}

// gradient is Gradient with the engine call that computes each (micro-)batch gradient:
// LossGrad, or TrainGrad for a real training step.
func (s *Stepper) gradient(grad func(params, x []float64, labels []int, g []float64) (float64, error), params []float64, x []float64, labels []int, step int) ([]float64, float64, error) {
	b := len(labels)
	m := s.Microbatches
	if m <= 1 || b == 1 {
		m = 1
	}
	if m > b {
		m = b
	}
	var loss float64
	if m == 1 {
		l, err := grad(params, x, labels, s.grad)
		if err != nil {
			return nil, 0, fmt.Errorf("gradient of step %d: %w", step, err)
		}
		loss = l
	} else {
		if s.part == nil {
			s.part = make([]float64, len(s.grad))
		}
		clear(s.grad)
		for j := 0; j < m; j++ {
			lo, hi := j*b/m, (j+1)*b/m // contiguous, sizes differ by at most one
			l, err := grad(params, x[lo*s.dim:hi*s.dim], labels[lo:hi], s.part)
			if err != nil {
				return nil, 0, fmt.Errorf("gradient of step %d, micro-batch %d: %w", step, j, err)
			}
			w := float64(hi-lo) / float64(b)
			loss += float64(w * l)
			for i, g := range s.part {
				s.grad[i] += float64(w * g)
			}
			// A real f32 trainer accumulates in f32.
			s.dt.Round(s.grad)
		}
	}
	if s.Noise != 0 {
		addNoise(s.grad, s.Noise, data.SubSeed(s.NoiseSeed, "noise", step))
		s.dt.Round(s.grad)
	}
	return s.grad, loss, nil
}

// addNoise adds sigma·(|g|₂/√n)·z to g, z ~ N(0,1) from data.NewRNG(seed).
func addNoise(g []float64, sigma float64, seed uint64) {
	var ss float64
	for _, v := range g {
		ss += float64(v * v)
	}
	scale := sigma * math.Sqrt(ss/float64(len(g)))
	r := data.NewRNG(seed)
	for i := range g {
		g[i] += float64(scale * r.NormFloat64())
	}
}

// Step performs update st.Step on batch with learning rate st.LR, then advances st to the next
// step: st.Step+1, and st.LR multiplied by Gamma when st.Step+1 is a milestone (PyTorch's
// scheduler.step() after optimizer.step()). The update is torch.optim.SGD's:
//
//	d = g + wd·w;  buf = mu·buf + d (if mu != 0; d on the first step);  w -= lr·buf (or lr·d)
//
// A momentum run must pass a momentum buffer (zeros before the first step: mu·0 + d = d, so
// this matches PyTorch's "buf = d on the first step"). An f64 Stepper rounds every product
// before its sum; an f32 Stepper computes exactly what torch.optim.SGD computes in float32
// (see applyF32). The gradient is the engine's TrainGrad, which for a model with buffers also
// commits the batch statistics to st.Buffers (PyTorch's train mode); for a model without
// buffers it is LossGrad, number for number.
func (s *Stepper) Step(st *State, h proof.Hyper, batch []int32, augSeed uint64, augment bool) error {
	n := s.model.NumParams()
	if len(st.Params) != n {
		return fmt.Errorf("step %d: %d parameters, model %s has %d", st.Step, len(st.Params), s.model.Spec(), n)
	}
	if h.Momentum != 0 && len(st.Momentum) != n {
		return fmt.Errorf("step %d: momentum %g needs %d buffer values, state has %d", st.Step, h.Momentum, n, len(st.Momentum))
	}
	if nb := s.engine.NumBuffers(); len(st.Buffers) != nb {
		return fmt.Errorf("step %d: model %s has %d buffer values (running statistics), state has %d", st.Step, s.model.Spec(), nb, len(st.Buffers))
	}
	x, labels, err := s.Gather(batch, augSeed, augment)
	if err != nil {
		return fmt.Errorf("step %d: %w", st.Step, err)
	}
	if st.Buffers != nil {
		if err := s.engine.SetBuffers(st.Buffers); err != nil {
			return fmt.Errorf("step %d: %w", st.Step, err)
		}
	}
	g, _, err := s.gradient(s.engine.TrainGrad, st.Params, x, labels, st.Step)
	if err != nil {
		return err
	}
	if st.Buffers != nil {
		copy(st.Buffers, s.engine.Buffers())
	}
	s.apply(st, h, g)
	st.Step++
	st.LR = IntervalLR(st.LR, h, st.Step-1, st.Step)
	return nil
}

// apply is the optimizer update of Step on gradient g (g is overwritten with d).
func (s *Stepper) apply(st *State, h proof.Hyper, g []float64) {
	if s.dt == autodiff.Float32 {
		applyF32(st, h, g)
	} else {
		applyF64(st, h, g)
	}
	// axpys of the update: about 2 FLOPs per parameter for each of decay, momentum and step.
	if s.ledger != nil {
		s.ledger.AddOther(6*float64(len(st.Params)), 0)
	}
}

// applyF64 is the float64 update, every product rounded before its sum (float64(x*y) + z:
// the explicit conversion keeps the compiler from fusing it on arm64, so every architecture
// computes the same bits).
func applyF64(st *State, h proof.Hyper, g []float64) {
	w := st.Params
	if h.WeightDecay != 0 {
		for i := range g {
			g[i] += float64(h.WeightDecay * w[i])
		}
	}
	dir := g
	if h.Momentum != 0 {
		buf := st.Momentum
		for i := range buf {
			buf[i] = float64(h.Momentum*buf[i]) + g[i]
		}
		dir = buf
	}
	for i := range w {
		w[i] -= float64(st.LR * dir[i])
	}
}

// applyF32 is torch.optim.SGD's float32 update exactly as PyTorch 1.13's CPU kernels compute
// it (_single_tensor_sgd; dampening 0, no Nesterov, not maximize): the hyperparameters are
// float32 scalars, and add_(x, alpha=a) is a fused multiply-add rounded once (vec::fmadd):
//
//	d   = fma(wd, w, g)                       d_p.add(param, alpha=weight_decay)
//	buf = d on the first step, else round(mu·buf) + d   buf.mul_(momentum).add_(d_p)
//	w   = fma(−lr, buf, w)                    param.add_(d_p, alpha=-lr)
//
// scripts/sgd_golden.py produced testdata/sgd_golden.bin with PyTorch; a test asserts bit
// equality. The first step is st.Step == 0 (the proof format's momentum buffers are zero
// there), where buf is a copy of d as in PyTorch (mu·0 + d would turn a −0 into +0).
func applyF32(st *State, h proof.Hyper, g []float64) {
	w := st.Params
	wd, mu, lr := float32(h.WeightDecay), float32(h.Momentum), float32(st.LR)
	if wd != 0 {
		for i := range g {
			g[i] = float64(autodiff.FMA32(wd, float32(w[i]), float32(g[i])))
		}
	}
	dir := g
	if mu != 0 {
		buf := st.Momentum
		for i := range buf {
			if st.Step == 0 {
				buf[i] = float64(float32(g[i]))
			} else {
				buf[i] = float64(float32(mu*float32(buf[i])) + float32(g[i]))
			}
		}
		dir = buf
	}
	for i := range w {
		w[i] = float64(autodiff.FMA32(-lr, float32(dir[i]), float32(w[i])))
	}
}

// IntervalLR is the lr in force at step t of a run whose lr was startLR at step start:
// startLR·gamma^(number of milestones m with start < m <= t), multiplied one milestone at a
// time in milestone order, as PyTorch's MultiStepLR and proof.Hyper.LRAt do, so that
// IntervalLR(h.LR, h, 0, t) == h.LRAt(t) bit for bit and a re-execution starting from a
// checkpoint's lr reproduces the prover's lr exactly.
func IntervalLR(startLR float64, h proof.Hyper, start, t int) float64 {
	lr := startLR
	for _, m := range h.Milestones {
		if m > start && m <= t {
			lr *= h.Gamma
		}
	}
	return lr
}
