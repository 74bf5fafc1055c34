package proof

import (
	"bytes"
	"encoding/binary"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/internal/bntest"
	"pollab/models"
)

// A checkpoint of a model with buffers holds, beside parameters and momentum, the running
// statistics under their PyTorch names in the run's dtype and one I64 scalar
// "<module>.num_batches_tracked" per BatchNorm, equal to the step: exactly the tensors of the
// module's state_dict (load_state_dict(strict=True)), plus momentum.
func TestCheckpointCarriesBuffersAsPyTorchNamesThem(t *testing.T) {
	dir := t.TempDir()
	b := buildProof(t, dir, bnFixture, 1)
	model, err := models.Parse(bntest.Spec)
	if err != nil {
		t.Fatal(err)
	}
	raw := readFile(t, dir, CheckpointName(4))
	h, err := parseSafetensorsHeader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range h.Tensors {
		names = append(names, ti.Name)
		switch {
		case strings.HasSuffix(ti.Name, TrackedSuffix):
			if ti.DType != "I64" || len(ti.Shape) != 0 {
				t.Errorf("%s: dtype %s shape %v, want an I64 scalar", ti.Name, ti.DType, ti.Shape)
			}
			if v := int64(binary.LittleEndian.Uint64(raw[h.BufferBase+ti.Begin:])); v != 4 {
				t.Errorf("%s = %d at step 4", ti.Name, v)
			}
		case ti.DType != "F32":
			t.Errorf("%s: dtype %s in an f32 run", ti.Name, ti.DType)
		}
	}
	var want []string
	for _, tn := range model.Tensors() {
		want = append(want, tn.Name, MomentumPrefix+tn.Name)
	}
	want = append(want, "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
		"bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked")
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("tensors %v\nwant %v", names, want)
	}
	if got := TrackedNames(model); !slices.Equal(got, []string{"bn1.num_batches_tracked", "bn2.num_batches_tracked"}) {
		t.Errorf("TrackedNames = %v", got)
	}

	// ReadWeights returns the buffers too.
	w, err := ReadWeights(filepath.Join(dir, CheckpointName(4)), model)
	if err != nil || !equalFloats(w.Buffers, b.ckpts[4].Buffers) || !equalFloats(w.Params, b.ckpts[4].Params) {
		t.Fatalf("ReadWeights: %v", err)
	}
}

// Buffers are attacker-controlled like every other tensor: each malformation is one clear
// error from the reader, never a panic.
func TestMalformedBuffersAreRejected(t *testing.T) {
	base := t.TempDir()
	b := buildProof(t, base, bnFixture, 1)
	model, _ := models.Parse(bntest.Spec)
	l := checkpointLayout{model: model, dtype: autodiff.Float32, momentum: true}
	const step = 2
	ck := CheckpointName(step)
	edit := func(f func(ts []stWriteTensor) []stWriteTensor) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			ts, meta, err := checkpointTensors(l, b.ckpts[step])
			if err != nil {
				t.Fatal(err)
			}
			for i := range ts { // the edits must not reach the fixture's values
				ts[i].Values, ts[i].Ints = slices.Clone(ts[i].Values), slices.Clone(ts[i].Ints)
			}
			var buf bytes.Buffer
			if err := writeSafetensors(&buf, f(ts), meta); err != nil {
				t.Fatal(err)
			}
			replaceFile(t, dir, ck, buf.Bytes())
		}
	}
	named := func(ts []stWriteTensor, name string) *stWriteTensor {
		for i := range ts {
			if ts[i].Name == name {
				return &ts[i]
			}
		}
		t.Fatalf("no tensor %s", name)
		return nil
	}
	drop := func(name string) func(t *testing.T, dir string) {
		return edit(func(ts []stWriteTensor) []stWriteTensor {
			return slices.DeleteFunc(ts, func(x stWriteTensor) bool { return x.Name == name })
		})
	}
	change := func(name string, f func(x *stWriteTensor)) func(t *testing.T, dir string) {
		return edit(func(ts []stWriteTensor) []stWriteTensor { f(named(ts, name)); return ts })
	}
	rows := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   string
	}{
		{"running variance missing", drop("bn2.running_var"), "and the model's buffers with num_batches_tracked"},
		{"num_batches_tracked missing", drop("bn1.num_batches_tracked"), "tensors, want"},
		{"foreign buffer", change("bn2.running_mean", func(x *stWriteTensor) { x.Name = "bn3.running_mean" }), `missing tensor "bn2.running_mean"`},
		{"num_batches_tracked not the step", change("bn1.num_batches_tracked", func(x *stWriteTensor) { x.Ints[0] = 7 }), `"bn1.num_batches_tracked" is 7, want the checkpoint's step 2`},
		{"num_batches_tracked negative", change("bn2.num_batches_tracked", func(x *stWriteTensor) { x.Ints[0] = -1 }), "never negative"},
		{"num_batches_tracked as a float", change("bn1.num_batches_tracked", func(x *stWriteTensor) {
			x.DType, x.Values, x.Ints = "F32", []float64{step}, nil
		}), "dtype F32, want I64"},
		{"num_batches_tracked as a vector", change("bn1.num_batches_tracked", func(x *stWriteTensor) { x.Shape = []int{1} }), "shape [1]"},
		{"running variance negative", change("bn1.running_var", func(x *stWriteTensor) { x.Values[3] = -0.5 }), `buffer "bn1.running_var": value 3 is -0.5`},
		{"running mean NaN", change("bn2.running_mean", func(x *stWriteTensor) { x.Values[0] = math.NaN() }), "not finite"},
		{"running variance infinite", change("bn2.running_var", func(x *stWriteTensor) { x.Values[1] = math.Inf(1) }), "not finite"},
		{"buffer shape", change("bn1.running_mean", func(x *stWriteTensor) { x.Shape = []int{2, 2} }), "shape [2 2]"},
		{"buffer dtype", change("bn1.running_mean", func(x *stWriteTensor) { x.DType = "F64" }), "dtype F64, the run is F32"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			err := openMutated(t, base, row.mutate)
			if err == nil || !strings.Contains(err.Error(), row.want) {
				t.Fatalf("error %v, want one mentioning %q", err, row.want)
			}
		})
	}
}

// The writer refuses buffers that do not fit the model or could not be read back.
func TestWriterRejectsBadBuffers(t *testing.T) {
	model, _ := models.Parse(bntest.Spec)
	l := checkpointLayout{model: model, dtype: autodiff.Float64}
	good := models.InitBuffers(model)
	for name, c := range map[string]struct {
		buf  []float64
		want string
	}{
		"missing":           {nil, "0 buffer values, model bntest has 16"},
		"short":             {good[:3], "3 buffer values"},
		"negative variance": {func() []float64 { b := slices.Clone(good); b[4] = -1; return b }(), "never negative"},
		"NaN":               {func() []float64 { b := slices.Clone(good); b[0] = math.NaN(); return b }(), "not finite"},
	} {
		err := encodeCheckpoint(new(bytes.Buffer), l, &Checkpoint{Step: 1, Params: make([]float64, model.NumParams()), Buffers: c.buf})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
	mlp, _ := models.Parse("mlp:4-3-2:relu")
	err := encodeCheckpoint(new(bytes.Buffer), checkpointLayout{model: mlp, dtype: autodiff.Float64},
		&Checkpoint{Params: make([]float64, mlp.NumParams()), Buffers: []float64{1}})
	if err == nil || !strings.Contains(err.Error(), "1 buffer values, model mlp:4-3-2:relu has 0") {
		t.Errorf("buffers for a model without: %v", err)
	}
}

// A PyTorch state_dict of a model with buffers (num_batches_tracked any count) is read whole;
// one without the buffers is refused.
func TestReadWeightsWithBuffers(t *testing.T) {
	model, _ := models.Parse(bntest.Spec)
	params := models.Init(model, 3)
	bufs := []float64{0.1, -0.2, 0.3, 0.4, 1, 2, 3, 4, 0, 0, 0, 0, 1, 1, 1, 0}
	sd := stateDict(model, params, "F64")
	for i, tn := range BufferTensors(model) {
		sd = append(sd, stWriteTensor{Name: tn.Name, DType: "F64", Shape: tn.Shape, Values: bufs[4*i : 4*i+4]})
	}
	for i, name := range TrackedNames(model) {
		sd = append(sd, stWriteTensor{Name: name, DType: "I64", Shape: []int{}, Ints: []int64{int64(100 + i)}})
	}
	w, err := ReadWeights(writeST(t, sd, nil), model)
	if err != nil || !equalFloats(w.Params, params) || !equalFloats(w.Buffers, bufs) {
		t.Fatalf("state dict with buffers: %v", err)
	}
	if _, err := ReadWeights(writeST(t, stateDict(model, params, "F64"), nil), model); err == nil || !strings.Contains(err.Error(), "buffers") {
		t.Fatalf("state dict without buffers: %v", err)
	}
}
