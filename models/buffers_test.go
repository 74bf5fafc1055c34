package models

import (
	"slices"
	"testing"

	"pollab/autodiff"
)

// bnToy is a BufferedModel written outside the registry: conv 3@3×3 (no bias) on 2×4×4,
// BatchNorm2d, ReLU, global average pool, linear 3→2.
type bnToy struct{}

func (bnToy) Spec() string            { return "bn-toy" }
func (bnToy) InputShape() []int       { return []int{2, 4, 4} }
func (bnToy) Classes() int            { return 2 }
func (bnToy) FLOPsPerSample() float64 { return 2 * (3*2*9*16 + 3*2) }
func (bnToy) Symbolic2nd() bool       { return true }
func (bnToy) NumParams() int          { return 54 + 3 + 3 + 6 + 2 }
func (m bnToy) ParamShapes() [][]int  { return shapesOf(m.Tensors()) }
func (m bnToy) BufferShapes() [][]int { return shapesOf(m.Buffers()) }
func (bnToy) Tensors() []Tensor {
	return []Tensor{
		{Name: "conv.weight", Shape: []int{3, 2, 3, 3}, Law: Law{Kind: Normal, Std: 0.3}, Tested: true},
		{Name: "bn.weight", Shape: []int{3}, Law: Law{Kind: Constant, Value: 1}},
		{Name: "bn.bias", Shape: []int{3}, Law: Law{Kind: Constant}},
		{Name: "fc.weight", Shape: []int{2, 3}, Law: Law{Kind: Normal, Std: 0.8}, Tested: true},
		{Name: "fc.bias", Shape: []int{2}, Law: Law{Kind: Constant}},
	}
}
func (bnToy) Buffers() []Tensor {
	return []Tensor{
		{Name: "bn.running_mean", Shape: []int{3}, Law: Law{Kind: Constant}},
		{Name: "bn.running_var", Shape: []int{3}, Law: Law{Kind: Constant, Value: 1}},
	}
}
func (bnToy) Forward(b *autodiff.Builder, x autodiff.Node, p []autodiff.Node) autodiff.Node {
	y := b.Conv2d(x, p[0], autodiff.Node{}, 1, 1)
	y = b.ReLU(b.BatchNorm2d(y, p[1], p[2], b.Buffer(0), b.Buffer(1), b.Training()))
	return b.Linear(b.Flatten(b.GlobalAvgPool(y)), p[3], p[4])
}

// A BufferedModel's buffers start at their laws (running mean 0, variance 1), the engine
// takes them as they are, and only a training step moves them; a model without buffers
// has none.
func TestBufferedModel(t *testing.T) {
	var m Model = bnToy{}
	if _, ok := m.(autodiff.BufferedNet); !ok {
		t.Fatal("a BufferedModel is not an autodiff.BufferedNet")
	}
	buf := InitBuffers(m)
	if want := []float64{0, 0, 0, 1, 1, 1}; !slices.Equal(buf, want) {
		t.Fatalf("InitBuffers = %v, want %v", buf, want)
	}
	if off := BufferOffsets(m); !slices.Equal(off, []int{0, 3, 6}) {
		t.Errorf("BufferOffsets = %v", off)
	}
	for _, spec := range allSpecs {
		plain, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		if InitBuffers(plain) != nil || BufferOffsets(plain) != nil {
			t.Errorf("%s has buffers", spec)
		}
	}

	e := autodiff.NewEngine(m, autodiff.Float64, nil)
	if e.NumBuffers() != len(buf) {
		t.Fatalf("engine has %d buffer values, the model %d", e.NumBuffers(), len(buf))
	}
	if err := e.SetBuffers(buf); err != nil {
		t.Fatal(err)
	}
	w := Init(m, 7)
	x := make([]float64, 3*32)
	for i := range x {
		x[i] = float64(i%7) - 2.5
	}
	labels := []int{0, 1, 1}
	if err := e.Logits(w, x, make([]float64, 6)); err != nil {
		t.Fatal(err)
	}
	g := make([]float64, len(w))
	if _, err := e.LossGrad(w, x, labels, g); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Buffers(), buf) {
		t.Error("LossGrad moved the buffers")
	}
	if _, err := e.TrainGrad(w, x, labels, g); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(e.Buffers(), buf) {
		t.Error("TrainGrad left the buffers at their initial values")
	}
}
