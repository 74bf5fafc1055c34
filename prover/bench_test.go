package prover

import (
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/models"
	"pollab/proof"
)

// BenchmarkStep is one honest training step of the MNIST-sized MLP at batch 128 (gather,
// gradient, SGD update with momentum and weight decay), per dtype.
func BenchmarkStep(b *testing.B) {
	m, err := models.Parse("mlp:784-128-10:relu")
	if err != nil {
		b.Fatal(err)
	}
	ds, err := data.Load("synthetic:n=1024,test=16,dim=784,classes=10,seed=1", data.Train)
	if err != nil {
		b.Fatal(err)
	}
	h := proof.Hyper{LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4}
	table := data.Schedule(ds.Len(), 128, 1, 1)
	for _, dt := range []autodiff.DType{autodiff.Float32, autodiff.Float64} {
		b.Run(dt.String(), func(b *testing.B) {
			s := NewStepper(m, dt, ds, nil, nil)
			w := models.Init(m, 1)
			dt.Round(w)
			st := &State{LR: h.LR, Params: w, Momentum: make([]float64, len(w))}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Step(st, h, table.Row(i%table.Steps), 0, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}
