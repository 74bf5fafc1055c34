package verifier

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"

	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/prover"
	"pollab/stats"
)

// Verifying streams the checkpoints: peak heap is O(model x workers) whatever the number of
// checkpoints. A proof with 10x as many checkpoints must not need much more memory.
func TestPeakHeapIndependentOfCheckpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two proofs of a 68k-parameter model")
	}
	// Measure live memory, not the collector's slack: at the default GOGC a heap that earlier
	// tests left at 60 MB (MNIST loaded) may grow by 60 MB of garbage before a collection,
	// which made the peak depend on GC timing rather than on what verification holds.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	peak := func(k int) uint64 {
		cfg := prover.Config{
			Model: "mlp:256-256-10:relu", Dataset: "synthetic:n=320,test=32,dim=256,classes=10,seed=4", DType: autodiff.Float64,
			Batch: 16, Epochs: 2, K: k, Seed: 1, // T = 40 steps
		}
		cfg.Hyper.LR, cfg.Hyper.Momentum, cfg.Hyper.Gamma = 0.05, 0.9, 0.1
		dir := prooftest.Train(t, cfg)
		p := open(t, dir)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		var max uint64
		sample := func(int, int, string) {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max {
				max = ms.HeapInuse
			}
		}
		nonce := uint64(3)
		ev, err := Gather(context.Background(), p, Env{}, policies(flat{Q: 1, Delta: stats.ReferenceDelta}), Options{Workers: 1, AuditNonce: &nonce, Progress: sample})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("k=%d: %d checkpoints, peak heap %.1f MB above a %.1f MB base", k, len(ev.Intervals)+1, float64(max-min(max, base))/1e6, float64(base)/1e6)
		return max - min(max, base)
	}
	few, many := peak(20), peak(1) // 3 vs 41 checkpoints of 0.55 MB each
	// Holding every checkpoint would cost 41 x 0.55 MB = 22 MB more.
	if float64(many) > 1.5*float64(few)+8e6 {
		t.Errorf("peak heap grows with the number of checkpoints: %d bytes for 41, %d for 3", many, few)
	}
}
