package autodiff_test

import (
	"math"
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

// TestResnetFloat32StepAccuracy: one float32 training step of ResNet-8 (3×32×32, batch 32 of
// byte-valued images, so BatchNorm sums 32·32·32 = 32,768 values per channel) is as close to
// the float64 step from the same weights as PyTorch 1.13's float32 step is to its float64
// step. Measured on this setting (weights models.Init seeds 1-5 at a28f2ec, batches seeds
// 21-25; docs/ACCURACY.md): PyTorch's running statistics 3.2-3.5e-8 (l2, relative) from
// float64, its linear layer's gradient 1.3-2.2e-7; pollab's 2.6-2.7e-8 and 1.1-1.8e-7 (this
// draw: 2.6e-8, 1.8e-7), where BatchNorm's channel sums accumulated in float32 (815da00) gave
// 2.4-3.6e-7 and 1.5-3.0e-6. The bounds are 1.5x PyTorch's largest. Only what the forward
// pass decides is compared: the gradients of the layers below the last ReLU change by up to
// 1e-3 when a ReLU input within float32's error of zero takes the other side (both
// implementations have such flips).
func TestResnetFloat32StepAccuracy(t *testing.T) {
	m := mustParse(t, "resnet:8")
	w := models.Init(m, 1)
	autodiff.Float32.Round(w)
	x, y := batch(m, 32, 21)
	for i := range x {
		x[i] = math.Round(x[i]*255) / 255 // an image's bytes
	}
	autodiff.Float32.Round(x)
	var grads, bufs [2][]float64
	for i, dt := range []autodiff.DType{autodiff.Float32, autodiff.Float64} {
		e := autodiff.NewEngine(m, dt, nil)
		if err := e.SetBuffers(models.InitBuffers(m)); err != nil {
			t.Fatal(err)
		}
		grads[i] = make([]float64, len(w))
		if _, err := e.TrainGrad(w, x, y, grads[i]); err != nil {
			t.Fatal(err)
		}
		bufs[i] = e.Buffers()
	}
	off := models.Offsets(m)
	var lin []int // offsets of the linear layer's weight and bias
	for i, tn := range m.Tensors() {
		if tn.Name == "linear.weight" || tn.Name == "linear.bias" {
			lin = append(lin, off[i], off[i+1])
		}
	}
	if len(lin) != 4 || lin[1] != lin[2] {
		t.Fatalf("linear layer at %v, want two adjacent tensors", lin)
	}
	for _, c := range []struct {
		what     string
		got, ref []float64
		bound    float64
	}{
		{"running statistics", bufs[0], bufs[1], 5e-8},
		{"linear layer's gradient", grads[0][lin[0]:lin[3]], grads[1][lin[0]:lin[3]], 3.3e-7},
	} {
		rel := relErr(c.got, c.ref)
		t.Logf("%s: float32 vs float64 %.3g (bound %.2g)", c.what, rel, c.bound)
		if !(rel <= c.bound) {
			t.Errorf("%s: float32 differs from float64 by %.3g relative, bound %.2g (PyTorch 1.13 meets it)", c.what, rel, c.bound)
		}
	}
}
