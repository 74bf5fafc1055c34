package verifier

import (
	"context"
	"fmt"
	"testing"

	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/prover"
	"pollab/stats"
)

// BenchmarkTopQCost measures what verifying top-Q costs against the Q·k/S figure of Jia et
// al.: the re-executed steps as a fraction of the proof's steps (one metric, and the union
// over all four), and the verifier's gradient FLOPs over the prover's. Each iteration
// re-executes from scratch (a fresh cache).
func BenchmarkTopQCost(b *testing.B) {
	cfg := prover.Config{
		Model: "mlp:32-32-10:relu", Dataset: "synthetic:n=1024,test=64,dim=32,classes=10,seed=5", DType: autodiff.Float32,
		Batch: 16, Epochs: 2, K: 4, Seed: 3, // S = 64 steps per epoch, 16 intervals per epoch, T = 128
	}
	cfg.Hyper.LR, cfg.Hyper.Momentum, cfg.Hyper.Gamma = 0.05, 0.9, 0.1
	dir := prooftest.Train(b, cfg)
	p, err := openProof(dir)
	if err != nil {
		b.Fatal(err)
	}
	honest, _ := p.Cost()
	nonce := uint64(9)
	for _, metrics := range [][]string{{stats.MetricL2}, stats.Metrics} {
		for _, q := range []int{1, 2, 4} {
			name := fmt.Sprintf("metrics=%d/Q=%d", len(metrics), q)
			b.Run(name, func(b *testing.B) {
				pol := flat{Q: q, Metrics: metrics, Delta: stats.ReferenceDelta}
				var ev *Evidence
				for i := 0; i < b.N; i++ {
					ev, err = Gather(context.Background(), p, Env{}, policies(pol), Options{Workers: 1, AuditNonce: &nonce})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(ev.ReexecutedFraction, "reexec_frac")
				b.ReportMetric(float64(q*cfg.K)/ev.StepsPerEpoch, "Qk/S")
				b.ReportMetric(ev.Ledger.FLOPs/honest.FLOPs, "flops_frac")
			})
		}
	}
}
