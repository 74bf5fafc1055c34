package proof

import (
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/models"
)

// benchWriter creates a proof writer for model spec (f32, momentum 0.9) in a temp dir.
func benchWriter(b *testing.B, spec string) (*Writer, models.Model) {
	model, err := models.Parse(spec)
	if err != nil {
		b.Fatal(err)
	}
	m := fixtureManifest(fixture{spec: spec, dtype: autodiff.Float32, momentum: 0.9, steps: 1, k: 1, batch: 1, n: 10})
	w, err := Create(b.TempDir(), m)
	if err != nil {
		b.Fatal(err)
	}
	return w, model
}

// BenchmarkWriteCheckpoint measures one atomic, fsynced LeNet-5 checkpoint write (params and
// momentum, f32).
func BenchmarkWriteCheckpoint(b *testing.B) {
	w, model := benchWriter(b, "lenet5")
	c := &Checkpoint{Params: models.Init(model, 1), Momentum: make([]float64, model.NumParams())}
	autodiff.Float32.Round(c.Params)
	b.SetBytes(int64(8 * model.NumParams()))
	for i := 0; i < b.N; i++ {
		if err := w.WriteCheckpoint(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadCheckpoint measures Proof.Checkpoint (read, SHA-256, validate, decode) of the
// same LeNet-5 checkpoint.
func BenchmarkReadCheckpoint(b *testing.B) {
	w, model := benchWriter(b, "lenet5")
	c := &Checkpoint{Params: models.Init(model, 1), Momentum: make([]float64, model.NumParams())}
	autodiff.Float32.Round(c.Params)
	for _, step := range []int{0, 1} {
		c.Step = step
		if err := w.WriteCheckpoint(c); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.WriteIndices(data.Table{Steps: 1, Batch: 1, Idx: []int32{0}}, make([][32]byte, 1), nil); err != nil {
		b.Fatal(err)
	}
	if err := w.Finish(nil, autodiff.Cost{}); err != nil {
		b.Fatal(err)
	}
	p, err := Open(w.dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(8 * model.NumParams()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Checkpoint(1); err != nil {
			b.Fatal(err)
		}
	}
}
