package proof

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"pollab/autodiff"
	"pollab/models"
)

// MomentumPrefix prefixes the name of a parameter's momentum buffer in a checkpoint.
const MomentumPrefix = "momentum."

// Buffer name suffixes (PyTorch's BatchNorm names): each "<module>.running_mean" buffer of a
// models.BufferedModel comes with "<module>.num_batches_tracked", an I64 scalar that a
// checkpoint stores as its step (the training steps applied), so the tensors load into the
// PyTorch module with load_state_dict(strict=True).
const (
	RunningMeanSuffix = ".running_mean"
	RunningVarSuffix  = ".running_var"
	TrackedSuffix     = ".num_batches_tracked"
)

// Checkpoint is the training state before update Step: the flat parameter vector (the
// model's tensors in order), the SGD momentum buffers (nil when momentum is 0), the model's
// flat buffers (models.BufferedModel: BatchNorm running statistics after Step training steps;
// nil for a model without buffers) and the learning rate the next update uses.
type Checkpoint struct {
	Step     int
	LR       float64
	Params   []float64
	Momentum []float64
	Buffers  []float64
}

// maxCheckpointHeader bounds a checkpoint's JSON header: a few hundred bytes per tensor.
const maxCheckpointHeader = 1 << 20

// stDTypeName maps a run dtype to its safetensors dtype.
func stDTypeName(dt autodiff.DType) string {
	if dt == autodiff.Float32 {
		return "F32"
	}
	return "F64"
}

// BufferTensors lists a model's buffers in flat order (nil for a model without buffers).
func BufferTensors(m models.Model) []models.Tensor {
	if bm, ok := m.(models.BufferedModel); ok {
		return bm.Buffers()
	}
	return nil
}

// NumBuffers is the length of a model's flat buffer vector.
func NumBuffers(m models.Model) int {
	off := models.BufferOffsets(m)
	if off == nil {
		return 0
	}
	return off[len(off)-1]
}

// TrackedNames lists a model's num_batches_tracked entries: "<module>.num_batches_tracked"
// for each buffer "<module>.running_mean", in buffer order.
func TrackedNames(m models.Model) []string {
	var out []string
	for _, t := range BufferTensors(m) {
		if module, ok := strings.CutSuffix(t.Name, RunningMeanSuffix); ok {
			out = append(out, module+TrackedSuffix)
		}
	}
	return out
}

// checkpointLayout is what a checkpoint of one run must contain.
type checkpointLayout struct {
	model    models.Model
	dtype    autodiff.DType
	momentum bool // momentum buffers present
}

// bufferBytes is the exact size of a checkpoint's data buffer.
func (l checkpointLayout) bufferBytes() int64 {
	n := int64(l.model.NumParams())
	if l.momentum {
		n *= 2
	}
	n += int64(NumBuffers(l.model))
	return n*int64(stDTypeSizes[stDTypeName(l.dtype)]) + 8*int64(len(TrackedNames(l.model)))
}

// maxFileBytes bounds a checkpoint file of this layout (buffer plus the largest header).
func (l checkpointLayout) maxFileBytes() int64 { return 8 + maxCheckpointHeader + l.bufferBytes() }

// checkFinite reports the first non-finite value of vs.
func checkFinite(vs []float64) error {
	for i, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("value %d is %v (not finite)", i, v)
		}
	}
	return nil
}

// checkBuffers checks flat buffers against the model: finite, and every running variance
// non-negative (eval mode divides by its square root).
func checkBuffers(m models.Model, buf []float64) error {
	off := 0
	for _, t := range BufferTensors(m) {
		vs := buf[off : off+t.Size()]
		off += t.Size()
		if err := checkFinite(vs); err != nil {
			return fmt.Errorf("buffer %q: %w", t.Name, err)
		}
		if strings.HasSuffix(t.Name, RunningVarSuffix) {
			if i := slices.IndexFunc(vs, func(v float64) bool { return v < 0 }); i >= 0 {
				return fmt.Errorf("buffer %q: value %d is %g, a variance is never negative", t.Name, i, vs[i])
			}
		}
	}
	return nil
}

// encodeCheckpoint streams c to w as safetensors.
func encodeCheckpoint(w io.Writer, l checkpointLayout, c *Checkpoint) error {
	tensors, meta, err := checkpointTensors(l, c)
	if err != nil {
		return err
	}
	return writeSafetensors(w, tensors, meta)
}

// checkpointTensors validates c against the layout and lists the tensors and metadata of its
// file.
func checkpointTensors(l checkpointLayout, c *Checkpoint) ([]stWriteTensor, map[string]string, error) {
	n := l.model.NumParams()
	if len(c.Params) != n {
		return nil, nil, fmt.Errorf("checkpoint step %d: %d parameters, model %s has %d", c.Step, len(c.Params), l.model.Spec(), n)
	}
	mom := c.Momentum
	if l.momentum && mom == nil {
		mom = make([]float64, n) // PyTorch's buffer before the first update is all zeros
	}
	if !l.momentum && len(mom) > 0 {
		return nil, nil, fmt.Errorf("checkpoint step %d: momentum buffers given but the run's momentum is 0", c.Step)
	}
	if l.momentum && len(mom) != n {
		return nil, nil, fmt.Errorf("checkpoint step %d: %d momentum values, model has %d parameters", c.Step, len(mom), n)
	}
	if nb := NumBuffers(l.model); len(c.Buffers) != nb {
		return nil, nil, fmt.Errorf("checkpoint step %d: %d buffer values, model %s has %d", c.Step, len(c.Buffers), l.model.Spec(), nb)
	}
	if math.IsNaN(c.LR) || math.IsInf(c.LR, 0) {
		return nil, nil, fmt.Errorf("checkpoint step %d: lr %v is not finite", c.Step, c.LR)
	}
	if c.Step == 0 && slices.ContainsFunc(mom, func(v float64) bool { return v != 0 }) {
		return nil, nil, errors.New("checkpoint step 0: momentum buffers must be zero before the first update")
	}
	for _, vs := range [][]float64{c.Params, mom} {
		if err := checkFinite(vs); err != nil {
			return nil, nil, fmt.Errorf("checkpoint step %d: %w", c.Step, err)
		}
	}
	if err := checkBuffers(l.model, c.Buffers); err != nil {
		return nil, nil, fmt.Errorf("checkpoint step %d: %w", c.Step, err)
	}
	dt := stDTypeName(l.dtype)
	var tensors []stWriteTensor
	off := 0
	for _, t := range l.model.Tensors() {
		size := t.Size()
		tensors = append(tensors, stWriteTensor{Name: t.Name, DType: dt, Shape: t.Shape, Values: c.Params[off : off+size]})
		if l.momentum {
			tensors = append(tensors, stWriteTensor{Name: MomentumPrefix + t.Name, DType: dt, Shape: t.Shape, Values: mom[off : off+size]})
		}
		off += size
	}
	off = 0
	for _, t := range BufferTensors(l.model) {
		tensors = append(tensors, stWriteTensor{Name: t.Name, DType: dt, Shape: t.Shape, Values: c.Buffers[off : off+t.Size()]})
		off += t.Size()
	}
	for _, name := range TrackedNames(l.model) {
		tensors = append(tensors, stWriteTensor{Name: name, DType: "I64", Shape: []int{}, Ints: []int64{int64(c.Step)}})
	}
	meta := map[string]string{
		"format": CheckpointFormat,
		"step":   strconv.Itoa(c.Step),
		"lr":     strconv.FormatFloat(c.LR, 'g', -1, 64),
		"model":  l.model.Spec(),
	}
	return tensors, meta, nil
}

// decodeCheckpoint parses a whole checkpoint file (already size-bounded and hash-checked)
// and validates it against the layout: the exact tensor set, shapes, dtype, finite values,
// metadata naming the model and wantStep, all-zero momentum buffers at step 0 (PyTorch
// has no buffer before the first update; a non-zero one would be an update no step made), and
// every num_batches_tracked equal to the step.
func decodeCheckpoint(b []byte, l checkpointLayout, modelSpec string, wantStep int) (*Checkpoint, error) {
	h, err := parseSafetensorsHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	md := h.Metadata
	if md["format"] != CheckpointFormat {
		return nil, fmt.Errorf("metadata format %q, want %q", md["format"], CheckpointFormat)
	}
	if md["model"] != modelSpec {
		return nil, fmt.Errorf("metadata model %q, manifest says %q", md["model"], modelSpec)
	}
	step, err := strconv.Atoi(md["step"])
	if err != nil {
		return nil, fmt.Errorf("metadata step %q is not an integer", md["step"])
	}
	if step != wantStep {
		return nil, fmt.Errorf("metadata step %d, manifest lists it as step %d", step, wantStep)
	}
	lr, err := strconv.ParseFloat(md["lr"], 64)
	if err != nil || math.IsNaN(lr) || math.IsInf(lr, 0) {
		return nil, fmt.Errorf("metadata lr %q is not a finite number", md["lr"])
	}
	s, err := decodeState(b, h, l, modelSpec)
	if err != nil {
		return nil, err
	}
	if step == 0 {
		if i := slices.IndexFunc(s.momentum, func(v float64) bool { return v != 0 }); i >= 0 {
			return nil, fmt.Errorf("momentum buffer value %d is %g at step 0: before the first update every buffer is zero", i, s.momentum[i])
		}
	}
	for i, name := range TrackedNames(l.model) {
		if s.tracked[i] != int64(step) {
			return nil, fmt.Errorf("tensor %q is %d, want the checkpoint's step %d (training steps applied)", name, s.tracked[i], step)
		}
	}
	return &Checkpoint{Step: step, LR: lr, Params: s.params, Momentum: s.momentum, Buffers: s.buffers}, nil
}

// state is the content of a checkpoint or weights file, flat.
type state struct {
	params, momentum, buffers []float64
	tracked                   []int64 // num_batches_tracked, TrackedNames order
}

// slotKind says which part of a state a tensor fills.
type slotKind int

const (
	slotParam slotKind = iota
	slotMomentum
	slotBuffer
	slotTracked
)

// stateSlot is one tensor a layout expects.
type stateSlot struct {
	name       string
	kind       slotKind
	shape      []int
	start, end int // in the part's flat vector
}

// slots lists the tensors of the layout: each parameter (with its momentum buffer when
// l.momentum), then the model's buffers and num_batches_tracked entries.
func (l checkpointLayout) slots() []stateSlot {
	var out []stateSlot
	off := 0
	for _, t := range l.model.Tensors() {
		out = append(out, stateSlot{t.Name, slotParam, t.Shape, off, off + t.Size()})
		if l.momentum {
			out = append(out, stateSlot{MomentumPrefix + t.Name, slotMomentum, t.Shape, off, off + t.Size()})
		}
		off += t.Size()
	}
	off = 0
	for _, t := range BufferTensors(l.model) {
		out = append(out, stateSlot{t.Name, slotBuffer, t.Shape, off, off + t.Size()})
		off += t.Size()
	}
	for i, name := range TrackedNames(l.model) {
		out = append(out, stateSlot{name, slotTracked, []int{}, i, i + 1})
	}
	return out
}

// decodeState reads the tensors of a parsed safetensors file b against the layout: the exact
// tensor set (parameters, every momentum buffer when l.momentum, the model's buffers and
// num_batches_tracked scalars), dtype and shapes, all checked before anything is allocated,
// then finite values (non-negative running variances, non-negative counts). momentum is nil
// when l.momentum is false, buffers and tracked when the model has no buffers.
func decodeState(b []byte, h *stHeader, l checkpointLayout, modelSpec string) (state, error) {
	slots := l.slots()
	if len(h.Tensors) != len(slots) {
		// Name the first extra or missing tensor: the likeliest mistakes are a partial momentum
		// set, missing buffers or a different model.
		known := map[string]bool{}
		for _, s := range slots {
			known[s.name] = true
		}
		for _, t := range h.Tensors {
			if !known[t.Name] {
				return state{}, fmt.Errorf("unexpected tensor %q (%d tensors, want %d)", t.Name, len(h.Tensors), len(slots))
			}
		}
		what := map[bool]string{true: "parameters and all momentum buffers", false: "parameters only: momentum is 0"}[l.momentum]
		if NumBuffers(l.model) > 0 {
			what += ", and the model's buffers with num_batches_tracked"
		}
		return state{}, fmt.Errorf("%d tensors, want %d (%s)", len(h.Tensors), len(slots), what)
	}
	// Check every tensor's name, dtype and shape before allocating anything.
	dt := stDTypeName(l.dtype)
	byName := make(map[string]stTensorInfo, len(h.Tensors))
	for _, t := range h.Tensors {
		byName[t.Name] = t
	}
	infos := make([]stTensorInfo, len(slots))
	for i, s := range slots {
		info, ok := byName[s.name]
		if !ok {
			return state{}, fmt.Errorf("missing tensor %q", s.name)
		}
		want := dt
		if s.kind == slotTracked {
			want = "I64"
		}
		if info.DType != want {
			if s.kind == slotTracked {
				return state{}, fmt.Errorf("tensor %q has dtype %s, want I64", s.name, info.DType)
			}
			return state{}, fmt.Errorf("tensor %q has dtype %s, the run is %s", s.name, info.DType, dt)
		}
		if !equalShape(info.Shape, s.shape) {
			return state{}, fmt.Errorf("tensor %q has shape %v, model %s wants %v", s.name, info.Shape, modelSpec, s.shape)
		}
		infos[i] = info
	}
	if h.BufferLen != l.bufferBytes() { // implied by the checks above; kept as a guard
		return state{}, fmt.Errorf("data buffer of %d bytes, model %s in %s needs %d", h.BufferLen, modelSpec, l.dtype, l.bufferBytes())
	}
	s := state{params: make([]float64, l.model.NumParams())}
	if l.momentum {
		s.momentum = make([]float64, l.model.NumParams())
	}
	if nb := NumBuffers(l.model); nb > 0 {
		s.buffers = make([]float64, nb)
		s.tracked = make([]int64, len(TrackedNames(l.model)))
	}
	for i, sl := range slots {
		raw := b[h.BufferBase+infos[i].Begin : h.BufferBase+infos[i].End]
		if sl.kind == slotTracked {
			v := int64(binary.LittleEndian.Uint64(raw))
			if v < 0 {
				return state{}, fmt.Errorf("tensor %q is %d, a count of training steps is never negative", sl.name, v)
			}
			s.tracked[sl.start] = v
			continue
		}
		dst := s.params
		switch sl.kind {
		case slotMomentum:
			dst = s.momentum
		case slotBuffer:
			dst = s.buffers
		}
		if err := decodeFloats(raw, dt, dst[sl.start:sl.end]); err != nil {
			return state{}, fmt.Errorf("tensor %q: %w", sl.name, err)
		}
	}
	if err := checkBuffers(l.model, s.buffers); err != nil {
		return state{}, err
	}
	return s, nil
}

func equalShape(a []int64, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != int64(b[i]) {
			return false
		}
	}
	return true
}

// Weights is a model's state read from a safetensors file: its parameters (flat, in the
// model's tensor order), its buffers (flat, nil for a model without buffers) and their dtype.
type Weights struct {
	Params, Buffers []float64
	DType           autodiff.DType
}

// ReadWeights reads a model's parameters and buffers and their dtype from a safetensors file:
// a proof's checkpoint, or any safetensors file that holds exactly the model's tensors under
// their state-dict names ("fc1.weight", ...) as PyTorch's
// safetensors.torch.save_file(model.state_dict(), path) writes them: for a model with buffers
// also its running statistics and num_batches_tracked counts (any count >= 0), optionally with
// a momentum buffer "momentum.<name>" for every parameter (checkpoints of momentum runs; they
// are validated, not returned). Every float tensor must be F32, or every one F64. The file gets
// the checkpoint reader's checks: a regular file (opened non-blocking) no larger than the
// model allows, a strict header whose offsets tile the buffer, the model's shapes, finite
// values, non-negative running variances; metadata is optional, but a "model" entry must
// name m.
func ReadWeights(path string, m models.Model) (*Weights, error) {
	largest := checkpointLayout{model: m, dtype: autodiff.Float64, momentum: true}
	b, err := ReadBounded(path, largest.maxFileBytes())
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	w, err := decodeWeights(b, m)
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	return w, nil
}

// decodeWeights is ReadWeights on the file's bytes.
func decodeWeights(b []byte, m models.Model) (*Weights, error) {
	h, err := parseSafetensorsHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	if spec, ok := h.Metadata["model"]; ok && spec != m.Spec() {
		return nil, fmt.Errorf("metadata model %q, want %q", spec, m.Spec())
	}
	tensors := m.Tensors()
	if len(tensors) == 0 {
		return nil, fmt.Errorf("model %s has no tensors", m.Spec())
	}
	first, ok := h.Tensor(tensors[0].Name)
	if !ok {
		return nil, fmt.Errorf("missing tensor %q (model %s)", tensors[0].Name, m.Spec())
	}
	var dt autodiff.DType
	switch first.DType {
	case "F32":
		dt = autodiff.Float32
	case "F64":
		dt = autodiff.Float64
	default:
		return nil, fmt.Errorf("tensor %q has dtype %s, want F32 or F64", first.Name, first.DType)
	}
	_, momentum := h.Tensor(MomentumPrefix + tensors[0].Name)
	s, err := decodeState(b, h, checkpointLayout{model: m, dtype: dt, momentum: momentum}, m.Spec())
	if err != nil {
		return nil, err
	}
	return &Weights{Params: s.params, Buffers: s.buffers, DType: dt}, nil
}
