package models

// BufferedModel is a Model with non-trainable state: tensors its forward pass reads but
// training does not differentiate (BatchNorm2d's running mean and variance).
//
// Train/eval mode is the engine's (autodiff.BufferedNet): LossGrad, TrainGrad, InputGrad and
// GradMatch build the model in training mode (Builder.Training() true: BatchNorm normalises
// with the batch's statistics and does not read the buffers), Logits in eval mode (the
// running statistics set with Engine.SetBuffers normalise). Only TrainGrad, the real training
// step, commits the batch statistics into the buffers (PyTorch's rule: momentum 0.1, unbiased
// variance); accuracy, gradient matching, central differences and verification passes leave
// them as they are.
//
// Buffers are not parameters: they are not in Tensors(), NumParams(), Init or the flat
// parameter vector, and training distances ignore them. PyTorch's per-BatchNorm
// "<module>.num_batches_tracked" (int64) is not an engine buffer; the proof layer derives
// it from each "<module>.running_mean" name.
type BufferedModel interface {
	Model
	BufferShapes() [][]int // = autodiff.BufferedNet: the engine's buffers in flat order
	// Buffers lists the buffer tensors in the same order, with PyTorch state-dict names
	// ("<module>.running_mean", "<module>.running_var") and their initial values as
	// Constant laws (0 for means, 1 for variances), never Tested.
	Buffers() []Tensor
}

// InitBuffers returns the flat initial buffers of m (each buffer tensor filled with its
// Constant law's value, in Buffers() order), or nil for a model without buffers.
func InitBuffers(m Model) []float64 {
	bm, ok := m.(BufferedModel)
	if !ok {
		return nil
	}
	var out []float64
	for _, t := range bm.Buffers() {
		for range t.Size() {
			out = append(out, t.Law.Value)
		}
	}
	return out
}

// BufferOffsets returns the start of each buffer tensor in the flat buffer vector, followed
// by the total (nil for a model without buffers).
func BufferOffsets(m Model) []int {
	bm, ok := m.(BufferedModel)
	if !ok {
		return nil
	}
	return offsets(bm.Buffers())
}

// offsets is the start of each tensor of ts in their flat concatenation, then the total.
func offsets(ts []Tensor) []int {
	off := make([]int, len(ts)+1)
	for i, t := range ts {
		off[i+1] = off[i] + t.Size()
	}
	return off
}
