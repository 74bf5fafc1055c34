package attacks

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
)

func honestTarget(t *testing.T) *Target {
	t.Helper()
	cfg := prover.Config{Model: "mlp:16-8-4:relu", Dataset: "synthetic:n=128,test=32,dim=16,classes=4,seed=9",
		DType: autodiff.Float32, Hyper: proof.Hyper{LR: 0.1, Momentum: 0.9, Milestones: []int{10}, Gamma: 0.5},
		Batch: 16, Epochs: 2, K: 4, Seed: 3}
	tg, err := LoadTarget(prooftest.Train(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// A forged proof claims the target's hyperparameters, carries a real schedule over the real
// data (its batch hashes match the dataset), and opens with every checkpoint readable.
func TestCreateForgedMakesAValidProofWithTheTargetsClaims(t *testing.T) {
	tg := honestTarget(t)
	if tg.HonestSteps != 16 || tg.HonestCost.Backward != 16 {
		t.Fatalf("honest cost %+v over %d steps", tg.HonestCost, tg.HonestSteps)
	}
	out := filepath.Join(t.TempDir(), "forged")
	f, err := tg.CreateForged(out, ForgedSpec{Producer: "attack:test", Steps: 22, K: 5, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	line := NewLine(make([]float64, len(tg.Final)), tg.Final)
	buf := make([]float64, len(tg.Final))
	for _, s := range f.CheckpointSteps() {
		line.At(s, 22, buf)
		if err := f.WriteCheckpoint(s, 1e-9, buf, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.Finish("test", out, autodiff.Cost{Other: 100, Wall: time.Millisecond}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Checkpoints != 6 || res.Steps != 22 {
		t.Fatalf("result %+v", res)
	}
	p := prooftest.OpenAll(t, out)
	m := p.Manifest()
	if m.Model != tg.Manifest.Model || m.Batch != 16 || m.Optimizer.LR != 0.1 || m.Optimizer.Momentum != 0.9 ||
		len(m.Optimizer.Milestones) != 1 || m.Dataset.Fingerprint != tg.Manifest.Dataset.Fingerprint || m.Epochs != 3 {
		t.Fatalf("manifest does not make the target's claims: %+v", m)
	}
	last, err := p.Checkpoint(p.NumCheckpoints() - 1)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Distance(last.Params, tg.Final).L2 != 0 || last.Momentum == nil || last.LR != 1e-9 {
		t.Fatal("last checkpoint is not W_T with momentum buffers and the claimed lr")
	}
	hashes := p.BatchHashes()
	table := p.Table()
	for step := 0; step < table.Steps; step++ {
		var ph [][32]byte
		for _, i := range table.Row(step) {
			ph = append(ph, tg.Train.PointHash(int(i)))
		}
		if data.BatchHash(ph) != hashes[step] {
			t.Fatalf("step %d: batch hash does not match the real points", step)
		}
	}
	// 22 forged steps against 16 honest ones: the honest per-step cost times 22.
	want := (tg.HonestCost.FLOPs + tg.HonestCost.Other) / 16 * 22
	if math.Abs(res.CostFraction.HonestFLOPs-want) > 1e-9*want || math.Abs(res.CostFraction.FLOPs-100/want) > 1e-12 {
		t.Fatalf("cost fraction %+v, honest FLOPs want %g", res.CostFraction, want)
	}
}

func TestBudgetNormalisationAndConversions(t *testing.T) {
	ref := &stats.Distances{L1: 200, L2: 10, Linf: 0.5, Cos: 0.1}
	b, err := NewBudget("l2", 0.008, ref)
	if err != nil || math.Abs(b.Delta-0.08) > 1e-15 {
		t.Fatalf("%+v %v", b, err)
	}
	if _, err := NewBudget("cos", 0.1, nil); err == nil {
		t.Fatal("cos budget accepted")
	}
	if _, err := NewBudget("l2", -1, nil); err == nil {
		t.Fatal("negative delta accepted")
	}
	l1, _ := NewBudget("l1", 4, nil)
	if got := l1.L2Equivalent(4, 16); got != 1 {
		t.Fatalf("l1 -> l2 allowance %g, want 4/sqrt(16)", got)
	}
	if n := l1.Norm([]float64{1, -2, 3}); n != 6 {
		t.Fatalf("l1 norm %g", n)
	}
}
