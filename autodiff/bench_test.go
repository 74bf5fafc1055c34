package autodiff_test

import (
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

// BenchmarkTrainStep times one LossGrad plus a plain SGD update (what one training step
// costs), reporting steps/s. Shapes match scripts/bench_torch.py.
func BenchmarkTrainStep(b *testing.B) {
	workloads := []struct {
		name, spec string
		batch      int
	}{
		{"mlp", "mlp:784-128-10:relu", 128},
		{"lenet5", "lenet5", 64},
		{"cnn-cifar", "cnn-cifar", 64},
	}
	for _, wl := range workloads {
		for _, dt := range []autodiff.DType{autodiff.Float32, autodiff.Float64} {
			b.Run(wl.name+"/"+dt.String(), func(b *testing.B) {
				m := mustParse(b, wl.spec)
				w := models.Init(m, 1)
				dt.Round(w)
				x, y := batch(m, wl.batch, 2)
				dt.Round(x)
				e := autodiff.NewEngine(m, dt, nil)
				g := make([]float64, len(w))
				step := func() {
					if _, err := e.LossGrad(w, x, y, g); err != nil {
						b.Fatal(err)
					}
					for i := range w {
						w[i] -= 0.01 * g[i]
					}
					dt.Round(w)
				}
				step() // compile outside the timer
				b.ResetTimer()
				for b.Loop() {
					step()
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
			})
		}
	}
}

// BenchmarkGradMatch times one dR/dX evaluation, float64, by each second-order method,
// reporting steps/s: MLP 784-128-10 tanh batch 128 and LeNet-5 batch 64 (shapes match
// scripts/bench_torch.py, whose reference is PyTorch's double backprop).
func BenchmarkGradMatch(b *testing.B) {
	for _, wl := range []struct {
		name, spec string
		batch      int
	}{{"mlp", "mlp:784-128-10:tanh", 128}, {"lenet5", "lenet5", 64}} {
		for _, method := range []autodiff.SecondOrder{autodiff.Symbolic, autodiff.CentralDiff} {
			b.Run(wl.name+"/"+method.String(), func(b *testing.B) {
				m := mustParse(b, wl.spec)
				w := models.Init(m, 1)
				x, y := batch(m, wl.batch, 2)
				e := autodiff.NewEngine(m, autodiff.Float64, nil)
				gstar := make([]float64, len(w))
				g := make([]float64, len(w))
				dRdX := make([]float64, len(x))
				run := func() {
					if _, err := e.GradMatch(method, w, x, y, gstar, g, dRdX); err != nil {
						b.Fatal(err)
					}
				}
				run()
				b.ResetTimer()
				for b.Loop() {
					run()
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
			})
		}
	}
}
