package autodiff_test

import (
	"runtime"
	"testing"
)

// allocsBefore is what one training step (LossGrad) allocated on gorgonia's TapeMachine
// with gorgonia's conv, pool, linear and cross-entropy ops (go test -benchmem,
// docs/BENCHMARKS.md: commit e2e52c9; the MLP in float64 at a24dc4d, whose conv changes did
// not touch it); ResNet-20 (batch 32, TrainGrad) before the fused BatchNorm2d and the
// recycled parallel jobs (docs/BENCHMARKS.md, run B at 2bfc13d: 2514).
var allocsBefore = map[string]float64{
	"lenet5/f32": 2266, "lenet5/f64": 2270, "cnn-cifar/f32": 2050, "cnn-cifar/f64": 2061,
	"mlp/f32": 861, "mlp/f64": 864, "resnet20/f32": 2514,
}

// TestTrainStepAllocations: a training step of LeNet-5, cnn-cifar, the MLP or ResNet-20
// allocates at least 20 times less than it did before pollab's executor and ops (the issue
// asked for 10 times on LeNet-5), at GOMAXPROCS 2: each parallel kernel allocates its job, so the
// count depends on it, and testing.AllocsPerRun would measure at GOMAXPROCS 1. The count
// is deterministic enough for a ceiling; the measured numbers are logged.
func TestTrainStepAllocations(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, wl := range trainWorkloads {
		for _, dt := range wl.dtypes {
			key := wl.name + "/" + dt.String()
			if _, ok := allocsBefore[key]; !ok {
				continue
			}
			n := allocsPerRun(t, 5, newTrainStep(t, wl.spec, wl.batch, dt))
			before := allocsBefore[key]
			t.Logf("%s batch %d: %.0f allocations per step, %.0f before: %.1fx fewer", key, wl.batch, n, before, before/n)
			if n > before/20 {
				t.Errorf("%s: %.0f allocations per step, ceiling %.0f (a twentieth of %.0f)", key, n, before/20, before)
			}
		}
	}
}

// allocsPerRun is the mean number of heap allocations of f over runs runs after one
// warm-up run, at the current GOMAXPROCS.
func allocsPerRun(t *testing.T, runs int, f func() error) float64 {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(runs)
}
