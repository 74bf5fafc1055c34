package models

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/internal/pynumpy"
)

// torchResnet checks pollab's ResNets against python/pollab_torch's PyTorch ResNet (option A,
// written after the PoL reference model.py, with the input channels as an argument and the final
// average pool over the whole plane, which is model.py's avg_pool2d(out, 8) on 32×32 inputs).
// For each case of the JSON file argv[1] it loads pollab's parameters and buffers with
// load_state_dict(strict=True), num_batches_tracked added for each running_mean as the proof
// layer derives it, and returns: the state dict's parameter and buffer names in order,
// eval-mode float32 logits, and, in float64 training mode, the loss, the parameter
// gradients and the running statistics after the step.
const torchResnet = `
import json, sys
import torch, torch.nn.functional as F
from pollab_torch.models import build_model

torch.set_num_threads(1)
results = []
for case in json.load(open(sys.argv[1])):
    shape = case["input"]
    net = build_model(case["spec"], torch.float64)
    state = {}
    for name, (dims, vals) in case["state"].items():
        state[name] = torch.tensor(vals, dtype=torch.float64).reshape(dims)
        if name.endswith(".running_mean"):
            state[name[:-len("running_mean")] + "num_batches_tracked"] = torch.tensor(0)
    net.load_state_dict(state, strict=True)
    x = torch.tensor(case["x"], dtype=torch.float64).reshape([-1] + shape)
    out = {"params": [n for n, _ in net.named_parameters()],
           "buffers": [n for n, _ in net.named_buffers() if not n.endswith("num_batches_tracked")]}
    net32 = build_model(case["spec"], torch.float32)
    net32.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}, strict=True)
    net32.eval()
    with torch.no_grad():
        out["logits32"] = net32(x.float()).double().flatten().tolist()
    net.train()
    loss = F.cross_entropy(net(x), torch.tensor(case["y"]))
    loss.backward()
    out["loss"] = loss.item()
    out["grad"] = torch.cat([p.grad.flatten() for p in net.parameters()]).tolist()
    out["running"] = torch.cat([b.flatten() for n, b in net.named_buffers() if not n.endswith("num_batches_tracked")]).tolist()
    results.append(out)
json.dump(results, sys.stdout)
`

// torchCase is what the Python script reads for one model.
type torchCase struct {
	Spec  string            `json:"spec"`
	Input []int             `json:"input"`
	State map[string][2]any `json:"state"`
	X     []float64         `json:"x"`
	Y     []int             `json:"y"`
}

type torchResult struct {
	Params, Buffers []string
	Logits32        []float64
	Loss            float64
	Grad, Running   []float64
}

// TestResnetLoadsIntoPyTorch: a pollab ResNet's parameters and buffers load into an
// independent PyTorch ResNet (option A) with load_state_dict(strict=True), in pollab's
// order; eval-mode float32 logits agree to 1e-5 relative; one float64 training step agrees
// on the loss, the parameter gradient and the committed running statistics (PyTorch's train
// mode). ResNet-20 on 3×32×32 and on 1×28×28, ResNet-8 on an odd size, 2×9×9.
func TestResnetLoadsIntoPyTorch(t *testing.T) {
	pynumpy.RequireTorch(t)
	const B = 4
	specs := []string{"resnet20", "resnet20:1x28x28", "resnet:8:2x9x9"}
	var cases []torchCase
	type run struct {
		m              Model
		w, buf, x      []float64
		y              []int
		logits32, grad []float64
		loss           float64
		running        []float64
	}
	runs := make([]run, len(specs))
	for i, spec := range specs {
		m, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(uint64(i), 3))
		w := Init(m, uint64(i+1))
		// BatchNorm affine parameters and running statistics away from their initial
		// values, so that each one matters.
		off := Offsets(m)
		for k, ts := range m.Tensors() {
			if strings.Contains(ts.Name, "bn") {
				for j := off[k]; j < off[k+1]; j++ {
					w[j] += 0.2 * r.NormFloat64()
				}
			}
		}
		buf := InitBuffers(m)
		boff := BufferOffsets(m)
		for k, ts := range m.(BufferedModel).Buffers() {
			for j := boff[k]; j < boff[k+1]; j++ {
				if strings.HasSuffix(ts.Name, "running_var") {
					buf[j] = 0.5 + r.Float64()
				} else {
					buf[j] = 0.3 * r.NormFloat64()
				}
			}
		}
		n := 1
		for _, d := range m.InputShape() {
			n *= d
		}
		x := make([]float64, B*n)
		for j := range x {
			x[j] = r.Float64()
		}
		y := []int{3, 1, 4, 1}
		tc := torchCase{Spec: spec, Input: m.InputShape(), State: map[string][2]any{}, X: x, Y: y}
		for k, ts := range m.Tensors() {
			tc.State[ts.Name] = [2]any{ts.Shape, w[off[k]:off[k+1]]}
		}
		for k, ts := range m.(BufferedModel).Buffers() {
			tc.State[ts.Name] = [2]any{ts.Shape, buf[boff[k]:boff[k+1]]}
		}
		cases = append(cases, tc)

		rn := run{m: m, w: w, buf: buf, x: x, y: y, logits32: make([]float64, B*10), grad: make([]float64, len(w))}
		e32 := autodiff.NewEngine(m, autodiff.Float32, nil)
		if err := e32.SetBuffers(buf); err != nil {
			t.Fatal(err)
		}
		if err := e32.Logits(w, x, rn.logits32); err != nil {
			t.Fatal(err)
		}
		e64 := autodiff.NewEngine(m, autodiff.Float64, nil)
		if err := e64.SetBuffers(buf); err != nil {
			t.Fatal(err)
		}
		if rn.loss, err = e64.TrainGrad(w, x, y, rn.grad); err != nil {
			t.Fatal(err)
		}
		rn.running = e64.Buffers()
		runs[i] = rn
	}
	path := filepath.Join(t.TempDir(), "cases.json")
	js, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := pynumpy.PollabTorch("../python", nil, "-c", torchResnet, path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("PyTorch ResNet: %v\n%s", err, stderr.String())
	}
	var res []torchResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(specs) {
		t.Fatalf("PyTorch output: %v (%d results)", err, len(res))
	}
	for i, spec := range specs {
		got, rn := res[i], runs[i]
		var names, bnames []string
		for _, ts := range rn.m.Tensors() {
			names = append(names, ts.Name)
		}
		for _, ts := range rn.m.(BufferedModel).Buffers() {
			bnames = append(bnames, ts.Name)
		}
		if strings.Join(got.Params, " ") != strings.Join(names, " ") || strings.Join(got.Buffers, " ") != strings.Join(bnames, " ") {
			t.Errorf("%s: PyTorch's parameter/buffer order differs from pollab's", spec)
		}
		check := func(what string, a, b []float64, tol float64) {
			rel := maxRelErr(a, b)
			t.Logf("%s %s: max relative error %.3g", spec, what, rel)
			if !(rel <= tol) {
				t.Errorf("%s %s: pollab vs PyTorch max relative error %.3g > %g", spec, what, rel, tol)
			}
		}
		check("eval logits (f32)", rn.logits32, got.Logits32, 1e-5)
		check("train loss (f64)", []float64{rn.loss}, []float64{got.Loss}, 1e-12)
		check("train gradient (f64)", rn.grad, got.Grad, 1e-9)
		check("running statistics after a step (f64)", rn.running, got.Running, 1e-12)
	}
}

// maxRelErr is max_i |a_i - b_i| / max_i |b_i|.
func maxRelErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, n float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		n = math.Max(n, math.Abs(b[i]))
	}
	return d / math.Max(n, 1e-300)
}
