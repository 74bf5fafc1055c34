package proof

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"pollab/autodiff"
	"pollab/models"
)

// MomentumPrefix prefixes the name of a parameter's momentum buffer in a checkpoint.
const MomentumPrefix = "momentum."

// Checkpoint is the training state before update Step: the flat parameter vector (the
// model's tensors in order), the SGD momentum buffers (nil when momentum is 0) and the learning
// rate the next update uses.
type Checkpoint struct {
	Step     int
	LR       float64
	Params   []float64
	Momentum []float64
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
	return n * int64(stDTypeSizes[stDTypeName(l.dtype)])
}

// maxFileBytes bounds a checkpoint file of this layout (buffer plus the largest header).
func (l checkpointLayout) maxFileBytes() int64 { return 8 + maxCheckpointHeader + l.bufferBytes() }

// encodeCheckpoint streams c to w as safetensors.
func encodeCheckpoint(w io.Writer, l checkpointLayout, c *Checkpoint) error {
	n := l.model.NumParams()
	if len(c.Params) != n {
		return fmt.Errorf("checkpoint step %d: %d parameters, model %s has %d", c.Step, len(c.Params), l.model.Spec(), n)
	}
	mom := c.Momentum
	if l.momentum && mom == nil {
		mom = make([]float64, n) // PyTorch's buffer before the first update is all zeros
	}
	if !l.momentum && len(mom) > 0 {
		return fmt.Errorf("checkpoint step %d: momentum buffers given but the run's momentum is 0", c.Step)
	}
	if l.momentum && len(mom) != n {
		return fmt.Errorf("checkpoint step %d: %d momentum values, model has %d parameters", c.Step, len(mom), n)
	}
	if math.IsNaN(c.LR) || math.IsInf(c.LR, 0) {
		return fmt.Errorf("checkpoint step %d: lr %v is not finite", c.Step, c.LR)
	}
	if c.Step == 0 && slices.ContainsFunc(mom, func(v float64) bool { return v != 0 }) {
		return errors.New("checkpoint step 0: momentum buffers must be zero before the first update")
	}
	for _, vs := range [][]float64{c.Params, mom} {
		for i, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("checkpoint step %d: value %d is %v (not finite)", c.Step, i, v)
			}
		}
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
	meta := map[string]string{
		"format": CheckpointFormat,
		"step":   strconv.Itoa(c.Step),
		"lr":     strconv.FormatFloat(c.LR, 'g', -1, 64),
		"model":  l.model.Spec(),
	}
	return writeSafetensors(w, tensors, meta)
}

// decodeCheckpoint parses a whole checkpoint file (already size-bounded and hash-checked)
// and validates it against the layout: the exact tensor set, shapes, dtype, finite values,
// metadata naming the model and wantStep, and all-zero momentum buffers at step 0 (PyTorch
// has no buffer before the first update; a non-zero one would be an update no step made).
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
	params, momentum, err := decodeState(b, h, l, modelSpec)
	if err != nil {
		return nil, err
	}
	if step == 0 {
		if i := slices.IndexFunc(momentum, func(v float64) bool { return v != 0 }); i >= 0 {
			return nil, fmt.Errorf("momentum buffer value %d is %g at step 0: before the first update every buffer is zero", i, momentum[i])
		}
	}
	return &Checkpoint{Step: step, LR: lr, Params: params, Momentum: momentum}, nil
}

// decodeState reads the tensors of a parsed safetensors file b against the layout: the exact
// tensor set (parameters, plus every momentum buffer when l.momentum), dtype and shapes, all
// checked before anything is allocated, then finite values. momentum is nil when l.momentum
// is false.
func decodeState(b []byte, h *stHeader, l checkpointLayout, modelSpec string) (params, momentum []float64, err error) {
	tensors := l.model.Tensors()
	want := len(tensors)
	if l.momentum {
		want *= 2
	}
	if len(h.Tensors) != want {
		// Name the first extra or missing tensor: the likeliest mistakes are a partial momentum
		// set or a different model.
		known := map[string]bool{}
		for _, t := range tensors {
			known[t.Name] = true
			if l.momentum {
				known[MomentumPrefix+t.Name] = true
			}
		}
		for _, t := range h.Tensors {
			if !known[t.Name] {
				return nil, nil, fmt.Errorf("unexpected tensor %q (%d tensors, want %d)", t.Name, len(h.Tensors), want)
			}
		}
		return nil, nil, fmt.Errorf("%d tensors, want %d (parameters%s)", len(h.Tensors), want, map[bool]string{true: " and all momentum buffers", false: " only: momentum is 0"}[l.momentum])
	}
	// Check every tensor's name, dtype and shape before allocating anything.
	dt := stDTypeName(l.dtype)
	byName := make(map[string]stTensorInfo, len(h.Tensors))
	for _, t := range h.Tensors {
		byName[t.Name] = t
	}
	type slot struct {
		info       stTensorInfo
		momentum   bool
		start, end int // in the flat vector
	}
	slots := make([]slot, 0, want)
	off := 0
	for _, t := range tensors {
		size := t.Size()
		names := []string{t.Name}
		if l.momentum {
			names = append(names, MomentumPrefix+t.Name)
		}
		for j, name := range names {
			info, ok := byName[name]
			if !ok {
				return nil, nil, fmt.Errorf("missing tensor %q", name)
			}
			if info.DType != dt {
				return nil, nil, fmt.Errorf("tensor %q has dtype %s, the run is %s", name, info.DType, dt)
			}
			if !equalShape(info.Shape, t.Shape) {
				return nil, nil, fmt.Errorf("tensor %q has shape %v, model %s wants %v", name, info.Shape, modelSpec, t.Shape)
			}
			slots = append(slots, slot{info, j == 1, off, off + size})
		}
		off += size
	}
	if h.BufferLen != l.bufferBytes() { // implied by the checks above; kept as a guard
		return nil, nil, fmt.Errorf("data buffer of %d bytes, model %s in %s needs %d", h.BufferLen, modelSpec, l.dtype, l.bufferBytes())
	}
	params = make([]float64, l.model.NumParams())
	if l.momentum {
		momentum = make([]float64, l.model.NumParams())
	}
	for _, s := range slots {
		dst := params
		if s.momentum {
			dst = momentum
		}
		raw := b[h.BufferBase+s.info.Begin : h.BufferBase+s.info.End]
		if err := decodeFloats(raw, dt, dst[s.start:s.end]); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", s.info.Name, err)
		}
	}
	return params, momentum, nil
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

// ReadWeights reads a model's parameters (flat, in the model's tensor order) and their dtype
// from a safetensors file: a proof's checkpoint, or any safetensors file that holds exactly the
// model's tensors under their state-dict names ("fc1.weight", ...), as PyTorch's
// safetensors.torch.save_file(model.state_dict(), path) writes them, optionally with a
// momentum buffer "momentum.<name>" for every parameter (checkpoints of momentum runs; they are
// validated, not returned). Every tensor must be F32, or every one F64. The file gets the
// checkpoint reader's checks: a regular file (opened non-blocking) no larger than the model
// allows, a strict header whose offsets tile the buffer, the model's shapes, finite values;
// metadata is optional, but a "model" entry must name m.
func ReadWeights(path string, m models.Model) ([]float64, autodiff.DType, error) {
	largest := checkpointLayout{model: m, dtype: autodiff.Float64, momentum: true}
	b, err := readBounded(path, largest.maxFileBytes())
	if err != nil {
		return nil, 0, fmt.Errorf("weights %s: %w", path, err)
	}
	params, dt, err := decodeWeights(b, m)
	if err != nil {
		return nil, 0, fmt.Errorf("weights %s: %w", path, err)
	}
	return params, dt, nil
}

// decodeWeights is ReadWeights on the file's bytes.
func decodeWeights(b []byte, m models.Model) ([]float64, autodiff.DType, error) {
	h, err := parseSafetensorsHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, 0, err
	}
	if spec, ok := h.Metadata["model"]; ok && spec != m.Spec() {
		return nil, 0, fmt.Errorf("metadata model %q, want %q", spec, m.Spec())
	}
	tensors := m.Tensors()
	if len(tensors) == 0 {
		return nil, 0, fmt.Errorf("model %s has no tensors", m.Spec())
	}
	first, ok := h.Tensor(tensors[0].Name)
	if !ok {
		return nil, 0, fmt.Errorf("missing tensor %q (model %s)", tensors[0].Name, m.Spec())
	}
	var dt autodiff.DType
	switch first.DType {
	case "F32":
		dt = autodiff.Float32
	case "F64":
		dt = autodiff.Float64
	default:
		return nil, 0, fmt.Errorf("tensor %q has dtype %s, want F32 or F64", first.Name, first.DType)
	}
	_, momentum := h.Tensor(MomentumPrefix + tensors[0].Name)
	params, _, err := decodeState(b, h, checkpointLayout{model: m, dtype: dt, momentum: momentum}, m.Spec())
	if err != nil {
		return nil, 0, err
	}
	return params, dt, nil
}
