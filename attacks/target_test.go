package attacks_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/internal/attacktest"
	"pollab/proof"
	"pollab/prover"
)

// A target loaded from a bare safetensors file (here an honest proof's final checkpoint) has
// the proof's W_T, the claims it is given, and the analytic honest cost; LoadTarget on the
// proof's directory agrees on everything the file can carry.
func TestLoadTargetFileTakesItsClaimsFromTheCaller(t *testing.T) {
	cfg := prover.Config{
		Model: "mlp:6-5-3:relu", Dataset: "synthetic:n=160,test=8,dim=6,classes=3,seed=2", DType: autodiff.Float64,
		Hyper: proof.Hyper{LR: 0.2, Momentum: 0.5}, Batch: 8, Epochs: 2, K: 3, Seed: 4,
	}
	fromDir := attacktest.Target(t, cfg)
	file := filepath.Join(fromDir.Source, proof.CheckpointName(40)) // T = 2·160/8; momentum buffers validated, dropped
	claims := attacks.Claims{Hyper: cfg.Hyper, Batch: cfg.Batch, Epochs: cfg.Epochs, K: cfg.K}
	tg, err := attacks.LoadTargetFile(file, cfg.Model, cfg.Dataset, claims)
	if err != nil {
		t.Fatal(err)
	}
	if tg.DType != autodiff.Float64 || tg.Source != file || tg.HonestSteps != 0 {
		t.Errorf("dtype %v source %q honest steps %d", tg.DType, tg.Source, tg.HonestSteps)
	}
	for i, v := range fromDir.Final {
		if math.Float64bits(v) != math.Float64bits(tg.Final[i]) {
			t.Fatalf("W_T differs at %d: %v vs %v", i, v, tg.Final[i])
		}
	}
	a, b := fromDir.Manifest, tg.Manifest
	if a.Model != b.Model || a.Dataset.Fingerprint != b.Dataset.Fingerprint || a.Dataset.N != b.Dataset.N ||
		a.DType != b.DType || a.Batch != b.Batch || a.Epochs != b.Epochs || a.Steps != b.Steps || a.K != b.K ||
		a.Optimizer.LR != b.Optimizer.LR || a.Optimizer.Momentum != b.Optimizer.Momentum {
		t.Errorf("claims differ:\n dir  %+v\n file %+v", a, b)
	}
	if _, _, measured := fromDir.HonestStep(); !measured {
		t.Error("the directory target has a ledger: its honest cost is measured")
	}
	if _, _, measured := tg.HonestStep(); measured {
		t.Error("the file target has no ledger: its honest cost must be the analytic estimate")
	}

	// Zero claims take Jia et al.'s defaults; a claimed f32 rounds f64 weights.
	def, err := attacks.LoadTargetFile(file, cfg.Model, cfg.Dataset, attacks.Claims{DType: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	m := def.Manifest
	if m.Batch != attacks.DefaultBatch || m.Optimizer.LR != attacks.DefaultLR || m.K != attacks.DefaultK || m.Epochs != 1 || def.DType != autodiff.Float32 {
		t.Errorf("defaults: batch %d lr %v k %d epochs %d dtype %v", m.Batch, m.Optimizer.LR, m.K, m.Epochs, def.DType)
	}
	for i, v := range def.Final {
		if float64(float32(v)) != v || math.Abs(v-tg.Final[i]) > 1e-6*math.Max(1, math.Abs(v)) {
			t.Fatalf("f32 claim: weight %d is %v, from %v", i, v, tg.Final[i])
		}
	}

	for _, c := range []struct {
		model, dataset string
		claims         attacks.Claims
		want           string
	}{
		{"mlp:6-4-3:relu", cfg.Dataset, claims, "metadata model"},
		{cfg.Model, "synthetic:n=160,dim=7,classes=3", claims, "features"},
		{cfg.Model, "synthetic:n=160,dim=6,classes=4", claims, "classes"},
		{cfg.Model, "no-such-dataset", claims, "dataset"},
		{cfg.Model, cfg.Dataset, attacks.Claims{Hyper: proof.Hyper{LR: 0.1, Momentum: 2}}, "momentum"},
		{cfg.Model, cfg.Dataset, attacks.Claims{DType: "f16"}, "dtype"},
		{cfg.Model, cfg.Dataset, attacks.Claims{K: -1}, "want >= 0"},
		{cfg.Model, cfg.Dataset, attacks.Claims{Batch: 1000}, "no step"},
	} {
		if _, err := attacks.LoadTargetFile(file, c.model, c.dataset, c.claims); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s on %s with %+v: error %v, want %q", c.model, c.dataset, c.claims, err, c.want)
		}
	}
}
