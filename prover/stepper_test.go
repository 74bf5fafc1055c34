package prover

import (
	"math"
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/models"
	"pollab/proof"
)

// tinyDataset is n points of dim U8 features with labels j mod classes, deterministic.
func tinyDataset(t *testing.T, n, dim, classes int) *data.Dataset {
	t.Helper()
	raw := make([]byte, n*dim)
	labels := make([]uint8, n)
	r := data.NewRNG(42)
	for i := range raw {
		raw[i] = byte(r.IntN(256))
	}
	for i := range labels {
		labels[i] = uint8(i % classes)
	}
	d, err := data.NewDataset("tiny", []int{dim}, classes, data.U8, raw, labels)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// softmaxRegressionGrad is the mean cross-entropy gradient of logits z = W x + b, written out by
// hand (dL/dz = softmax(z) - onehot(y)), independently of autodiff. W is [out,in] then b [out].
func softmaxRegressionGrad(params []float64, xs [][]float64, ys []int, in, out int) []float64 {
	g := make([]float64, len(params))
	w, b := params[:out*in], params[out*in:]
	for s, x := range xs {
		z := make([]float64, out)
		zmax := math.Inf(-1)
		for o := range out {
			z[o] = b[o]
			for i := range in {
				z[o] += w[o*in+i] * x[i]
			}
			zmax = math.Max(zmax, z[o])
		}
		var sum float64
		for o := range z {
			z[o] = math.Exp(z[o] - zmax)
			sum += z[o]
		}
		for o := range out {
			dz := z[o] / sum
			if o == ys[s] {
				dz--
			}
			dz /= float64(len(xs))
			for i := range in {
				g[o*in+i] += dz * x[i]
			}
			g[out*in+o] += dz
		}
	}
	return g
}

// TestStepMatchesHandComputedPyTorchSGD runs four steps of SGD with momentum, weight decay and a
// milestone, and compares with torch.optim.SGD's update rule applied by hand.
func TestStepMatchesHandComputedPyTorchSGD(t *testing.T) {
	const in, out = 3, 2
	m, err := models.Parse("mlp:3-2:relu")
	if err != nil {
		t.Fatal(err)
	}
	ds := tinyDataset(t, 8, in, out)
	h := proof.Hyper{LR: 0.5, Momentum: 0.9, WeightDecay: 0.01, Milestones: []int{2}, Gamma: 0.1}
	batches := [][]int32{{0, 3, 5}, {1, 2, 7}, {4, 6, 0}, {7, 7, 2}}

	st := &State{LR: h.LR, Params: models.Init(m, 7), Momentum: make([]float64, m.NumParams())}
	want := append([]float64(nil), st.Params...)
	s := NewStepper(m, autodiff.Float64, ds, nil, nil)

	var buf []float64 // PyTorch: no buffer before the first step
	lr := h.LR
	for step, batch := range batches {
		if err := s.Step(st, h, batch, 0, false); err != nil {
			t.Fatal(err)
		}
		xs, ys := make([][]float64, len(batch)), make([]int, len(batch))
		for j, i := range batch {
			xs[j] = make([]float64, in)
			ds.Features(int(i), xs[j])
			ys[j] = ds.Label(int(i))
		}
		g := softmaxRegressionGrad(want, xs, ys, in, out)
		for i := range g {
			g[i] += h.WeightDecay * want[i]
		}
		if buf == nil {
			buf = append([]float64(nil), g...) // torch.clone(d_p) on the first step
		} else {
			for i := range buf {
				buf[i] = h.Momentum*buf[i] + g[i]
			}
		}
		for i := range want {
			want[i] -= lr * buf[i]
		}
		if step+1 == 2 { // MultiStepLR.step() after the optimizer step reaches milestone 2
			lr *= h.Gamma
		}
		if st.Step != step+1 || st.LR != lr {
			t.Fatalf("after step %d: state step %d lr %v, want %d %v", step, st.Step, st.LR, step+1, lr)
		}
		for i := range want {
			if d := math.Abs(st.Params[i] - want[i]); d > 1e-12 {
				t.Fatalf("step %d param %d: got %v want %v", step, i, st.Params[i], want[i])
			}
			if d := math.Abs(st.Momentum[i] - buf[i]); d > 1e-12 {
				t.Fatalf("step %d momentum %d: got %v want %v", step, i, st.Momentum[i], buf[i])
			}
		}
	}
}

func TestIntervalLR(t *testing.T) {
	h := proof.Hyper{LR: 1, Milestones: []int{10, 20, 25}, Gamma: 0.5}
	for _, c := range []struct {
		start, t int
		want     float64
	}{{0, 9, 1}, {0, 10, 0.5}, {0, 19, 0.5}, {0, 20, 0.25}, {10, 30, 0.25}, {9, 10, 0.5}, {25, 100, 1}} {
		if got := IntervalLR(1, h, c.start, c.t); got != c.want {
			t.Errorf("IntervalLR(1, %d, %d) = %v, want %v", c.start, c.t, got, c.want)
		}
	}
	// Stepping one step at a time gives the same lr as one jump.
	h = proof.Hyper{LR: 0.1, Milestones: []int{3, 7}, Gamma: 0.1}
	lr := h.LR
	for s := 0; s < 9; s++ {
		lr = IntervalLR(lr, h, s, s+1)
	}
	if got := IntervalLR(h.LR, h, 0, 9); got != lr || got != h.LRAt(9) {
		t.Errorf("stepwise lr %v, jump lr %v, Hyper.LRAt %v: want all equal", lr, got, h.LRAt(9))
	}
}

// runSteps trains steps steps of an MLP on the tiny dataset with stepper s from a fixed init.
func runSteps(t *testing.T, s *Stepper, m models.Model, init []float64, steps int) []float64 {
	t.Helper()
	h := proof.Hyper{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-3}
	st := &State{LR: h.LR, Params: append([]float64(nil), init...), Momentum: make([]float64, len(init))}
	table := data.Schedule(64, 16, 10, 3)
	for i := range steps {
		if err := s.Step(st, h, table.Row(i), 0, false); err != nil {
			t.Fatal(err)
		}
	}
	return st.Params
}

func maxAbsDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func TestMicrobatchesNoiseAndDType(t *testing.T) {
	m, err := models.Parse("mlp:16-12-4:tanh")
	if err != nil {
		t.Fatal(err)
	}
	ds := tinyDataset(t, 64, 16, 4)
	init := models.Init(m, 11)
	autodiff.Float32.Round(init)
	const steps = 20

	ref := runSteps(t, NewStepper(m, autodiff.Float32, ds, nil, nil), m, init, steps)
	again := runSteps(t, NewStepper(m, autodiff.Float32, ds, nil, nil), m, init, steps)
	if d := maxAbsDiff(ref, again); d != 0 {
		t.Fatalf("two identical f32 runs differ by %g", d)
	}
	if d := maxAbsDiff(ref, init); d < 1e-3 {
		t.Fatalf("training barely moved the weights (%g): the test would prove nothing", d)
	}

	micro := NewStepper(m, autodiff.Float32, ds, nil, nil)
	micro.Microbatches = 4
	got := runSteps(t, micro, m, init, steps)
	d := maxAbsDiff(ref, got)
	t.Logf("f32, %d steps: M=4 vs M=1 max |diff| = %g", steps, d)
	if d == 0 || d > 1e-4 {
		t.Errorf("micro-batching should change only the rounding: max |diff| %g, want in (0, 1e-4]", d)
	}

	noisy := NewStepper(m, autodiff.Float32, ds, nil, nil)
	noisy.Noise, noisy.NoiseSeed = 0.1, 5
	n1 := runSteps(t, noisy, m, init, steps)
	noisy2 := NewStepper(m, autodiff.Float32, ds, nil, nil)
	noisy2.Noise, noisy2.NoiseSeed = 0.1, 5
	n2 := runSteps(t, noisy2, m, init, steps)
	if d := maxAbsDiff(n1, ref); d < 1e-5 {
		t.Errorf("noise 0.1 changed the weights by only %g", d)
	}
	if d := maxAbsDiff(n1, n2); d != 0 {
		t.Errorf("the same noise seed gave different weights (%g)", d)
	}

	// An f64 stepper re-executes the f32 run from the same f32 parameters: close, not equal,
	// and its values are not confined to float32.
	f64 := runSteps(t, NewStepper(m, autodiff.Float64, ds, nil, nil), m, init, steps)
	d = maxAbsDiff(ref, f64)
	t.Logf("f64 vs f32, %d steps: max |diff| = %g", steps, d)
	if d == 0 || d > 1e-3 {
		t.Errorf("f64 re-execution of an f32 run: max |diff| %g, want in (0, 1e-3]", d)
	}
	off32 := 0
	for _, v := range f64 {
		if float64(float32(v)) != v {
			off32++
		}
	}
	if off32 == 0 {
		t.Error("the f64 stepper's result is entirely float32-representable: it did not run in f64")
	}
	for _, v := range ref {
		if float64(float32(v)) != v {
			t.Fatal("an f32 run stored a value that is not float32-representable")
		}
	}
}

func TestGatherRejectsBadIndices(t *testing.T) {
	m, _ := models.Parse("mlp:3-2:relu")
	ds := tinyDataset(t, 4, 3, 2)
	s := NewStepper(m, autodiff.Float64, ds, nil, nil)
	for _, batch := range [][]int32{{0, 4}, {-1}, {}, {math.MaxInt32}, {math.MinInt32}} {
		if _, _, err := s.Gather(batch, 0, false); err == nil {
			t.Errorf("batch %v: want an error", batch)
		}
	}
	payload, err := data.NewDataset("payload", []int{3}, 2, data.F32, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	data.AppendF32(payload, []float64{0.25, 0.5, 0.75}, 1)
	s = NewStepper(m, autodiff.Float64, ds, payload, nil)
	x, y, err := s.Gather([]int32{-1, 2}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if x[0] != 0.25 || x[2] != 0.75 || y[0] != 1 || y[1] != ds.Label(2) {
		t.Errorf("payload point decoded as %v label %v", x[:3], y[0])
	}
	if _, _, err := s.Gather([]int32{-2}, 0, false); err == nil {
		t.Error("payload index -2 of a 1-point payload: want an error")
	}
}
