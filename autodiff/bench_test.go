package autodiff_test

import (
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

// trainWorkloads are the training-step workloads of BenchmarkTrainStep (shapes match
// scripts/bench_torch.py) and TestTrainStepAllocations.
var trainWorkloads = []struct {
	name, spec string
	batch      int
	dtypes     []autodiff.DType
}{
	{"mlp", "mlp:784-128-10:relu", 128, bothDTypes},
	{"lenet5", "lenet5", 64, bothDTypes},
	{"cnn-cifar", "cnn-cifar", 64, bothDTypes},
	{"resnet20", "resnet20", 32, []autodiff.DType{autodiff.Float32}},
}

var bothDTypes = []autodiff.DType{autodiff.Float32, autodiff.Float64}

// newTrainStep returns one training step of spec on a fixed batch: TrainGrad (which also
// commits BatchNorm running statistics, as PyTorch's train mode does) and a plain SGD
// update, rounded to the dtype.
func newTrainStep(tb testing.TB, spec string, batchSize int, dt autodiff.DType) func() error {
	m := mustParse(tb, spec)
	w := models.Init(m, 1)
	dt.Round(w)
	x, y := batch(m, batchSize, 2)
	dt.Round(x)
	e := autodiff.NewEngine(m, dt, nil)
	if buf := models.InitBuffers(m); buf != nil {
		if err := e.SetBuffers(buf); err != nil {
			tb.Fatal(err)
		}
	}
	g := make([]float64, len(w))
	return func() error {
		if _, err := e.TrainGrad(w, x, y, g); err != nil {
			return err
		}
		for i := range w {
			w[i] -= 0.01 * g[i]
		}
		dt.Round(w)
		return nil
	}
}

// BenchmarkTrainStep times one training step (newTrainStep), reporting steps/s.
func BenchmarkTrainStep(b *testing.B) {
	for _, wl := range trainWorkloads {
		for _, dt := range wl.dtypes {
			b.Run(wl.name+"/"+dt.String(), func(b *testing.B) {
				step := newTrainStep(b, wl.spec, wl.batch, dt)
				if err := step(); err != nil { // compile outside the timer
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if err := step(); err != nil {
						b.Fatal(err)
					}
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
