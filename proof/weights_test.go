package proof

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

// stateDict lays params out as PyTorch's state_dict: one tensor per parameter, by name.
func stateDict(m models.Model, params []float64, dtype string) []stWriteTensor {
	var ts []stWriteTensor
	off := 0
	for _, t := range m.Tensors() {
		ts = append(ts, stWriteTensor{Name: t.Name, DType: dtype, Shape: t.Shape, Values: params[off : off+t.Size()]})
		off += t.Size()
	}
	return ts
}

func writeST(t *testing.T, tensors []stWriteTensor, meta map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := writeSafetensors(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadWeightsFromACheckpointAndAStateDict(t *testing.T) {
	dir := t.TempDir()
	b := buildProof(t, dir, smallFixture, 4) // f64 with momentum
	m, err := models.Parse(smallFixture.spec)
	if err != nil {
		t.Fatal(err)
	}
	final := b.ckpts[smallFixture.steps]
	w, err := ReadWeights(filepath.Join(dir, CheckpointName(smallFixture.steps)), m)
	if err != nil || w.DType != autodiff.Float64 || !equalFloats(w.Params, final.Params) || w.Buffers != nil {
		t.Fatalf("checkpoint: %v, weights %+v", err, w)
	}

	// A bare state_dict in F32 without metadata, as safetensors.torch.save_file writes it.
	want := append([]float64(nil), final.Params...)
	autodiff.Float32.Round(want)
	w, err = ReadWeights(writeST(t, stateDict(m, want, "F32"), nil), m)
	if err != nil || w.DType != autodiff.Float32 || !equalFloats(w.Params, want) {
		t.Fatalf("state dict: %v, weights %+v", err, w)
	}
	// Metadata naming the model is fine; foreign metadata keys are ignored.
	if _, err := ReadWeights(writeST(t, stateDict(m, want, "F64"), map[string]string{"model": m.Spec(), "epoch": "3"}), m); err != nil {
		t.Fatal(err)
	}
}

func TestReadWeightsRejectsMalformedFiles(t *testing.T) {
	m, err := models.Parse(smallFixture.spec)
	if err != nil {
		t.Fatal(err)
	}
	params := make([]float64, m.NumParams())
	for i := range params {
		params[i] = float64(i) / 16
	}
	sd := func() []stWriteTensor { return stateDict(m, append([]float64(nil), params...), "F32") }
	names := m.Tensors()
	other, _ := models.Parse("mlp:4-5-2:relu")
	cases := map[string]struct {
		tensors []stWriteTensor
		meta    map[string]string
		want    string
	}{
		"missing tensor": {sd()[1:], nil, "missing tensor"},
		"extra tensor":   {append(sd(), stWriteTensor{Name: "bn.running_mean", DType: "F32", Shape: []int{1}, Values: []float64{0}}), nil, `unexpected tensor "bn.running_mean"`},
		"other model":    {stateDict(other, make([]float64, other.NumParams()), "F32"), nil, "shape"},
		"metadata model": {sd(), map[string]string{"model": "mlp:4-5-2:relu"}, "metadata model"},
		"mixed dtypes": {func() []stWriteTensor {
			ts := sd()
			ts[len(ts)-1].DType = "F64"
			return ts
		}(), nil, "dtype"},
		"NaN weight": {func() []stWriteTensor {
			ts := sd()
			ts[0].Values = append([]float64(nil), ts[0].Values...)
			ts[0].Values[0] = math.NaN()
			return ts
		}(), nil, "finite"},
		"partial momentum": {append(sd(), stWriteTensor{Name: MomentumPrefix + names[0].Name, DType: "F32", Shape: names[0].Shape, Values: make([]float64, names[0].Size())}), nil, "tensors, want"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadWeights(writeST(t, c.tensors, c.meta), m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}

	// Hand-made F16 file, truncated file, directory, FIFO, missing file, a file over the cap.
	good, err := os.ReadFile(writeST(t, sd(), nil))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f16 := handMade(`{"fc1.weight":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}`, 0, []byte{0, 0})
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	for path, want := range map[string]string{
		write("f16", f16):                  "want F32 or F64",
		write("short", good[:len(good)-3]): "",
		write("empty", nil):                "",
		write("huge", make([]byte, 3<<20)): "more than",
		dir:                                "not a regular file",
		fifo:                               "not a regular file",
		filepath.Join(dir, "absent"):       "no such file",
	} {
		_, err := ReadWeights(path, m)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file and %q", filepath.Base(path), err, want)
		}
	}
}
