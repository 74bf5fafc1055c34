package prover

import (
	"context"
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/proof"
)

// TestMNISTEndToEnd is the acceptance run: mlp:784-128-10:relu, 2 epochs of plain SGD
// at lr 0.1, batch 128, f32, must reach 90% test accuracy (about 10 s on two cores).
func TestMNISTEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST for two epochs")
	}
	if _, err := data.Load("mnist", data.Train); err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	cfg := Config{
		Model: "mlp:784-128-10:relu", Dataset: "mnist", DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.1, Gamma: 0.1}, Batch: 128, Epochs: 2, K: 100, Seed: 1,
	}
	res, err := Train(context.Background(), cfg, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MNIST: %d steps, test accuracy %.4f, ledger %+v, wall %s", res.Steps, res.TestAccuracy, res.Cost, res.Wall)
	if res.Steps != 937 || res.Checkpoints != 11 {
		t.Errorf("%d steps, %d checkpoints, want 937 and 11", res.Steps, res.Checkpoints)
	}
	if res.TestAccuracy < 0.90 {
		t.Errorf("test accuracy %.4f < 0.90", res.TestAccuracy)
	}
}
