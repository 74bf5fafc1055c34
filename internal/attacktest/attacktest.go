// Package attacktest holds what the tests of attacks against the real verifier share: an
// honest target trained for the test, and the verifier's Evidence on a (forged) proof. It
// imports attacks and verifier, so only external test packages (and the attack packages'
// tests) use it; it is imported only by _test.go files.
package attacktest

import (
	"context"
	"path/filepath"
	"testing"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
	"pollab/verifier"
)

// Target trains the honest proof of cfg (prooftest.Train) and loads it as an attacker's
// target (attacks.LoadTarget: its final checkpoint, manifest and ledger).
func Target(t testing.TB, cfg prover.Config) *attacks.Target {
	t.Helper()
	tg, err := attacks.LoadTarget(prooftest.Train(t, cfg))
	if err != nil {
		t.Fatalf("load target: %v", err)
	}
	return tg
}

// Gather runs the real verifier on p in the env named env (verifier.ParseEnv) for the
// policies, on one worker with audit nonce 1, re-executing the intervals they need.
func Gather(t testing.TB, p *proof.Proof, env string, pols ...verifier.Policy) *verifier.Evidence {
	t.Helper()
	e, err := verifier.ParseEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	nonce := uint64(1)
	ev, err := verifier.Gather(context.Background(), p, e, pols, verifier.Options{Workers: 1, AuditNonce: &nonce})
	if err != nil {
		t.Fatalf("verify %s in env %s: %v", p.Dir(), env, err)
	}
	return ev
}

// Commitment is what the verifier's seed-commitment check finds in p (verifier.CommitmentCheck,
// collected by Gather): whether W0 is exactly the model's init from the recorded init seed
// (rounded to the run's dtype), its buffers (running statistics) included, and whether the
// batch table is exactly the first T rows of the schedule from the recorded data seed over the
// declared dataset.
func Commitment(t testing.TB, p *proof.Proof) (initOK, batchesOK bool) {
	t.Helper()
	ev := Gather(t, p, "exact", verifier.NewPolicy(verifier.Selection{}, verifier.CommitmentCheck{}))
	var f verifier.CommitmentFinding
	if ok, err := ev.Finding(verifier.CheckCommitment, &f); !ok || err != nil {
		t.Fatalf("no commitment finding (%v)", err)
	}
	return f.FirstBadParam == -1 && f.FirstBadBuffer == -1, f.FirstBadStep == -1
}

// Forge runs the attack against tg into a fresh directory and opens the forged proof it
// wrote (prooftest.OpenAll).
func Forge(t testing.TB, a attacks.Attack, tg *attacks.Target) (*attacks.Result, *proof.Proof) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "forged")
	res, err := a.Forge(context.Background(), tg, out, attacks.Options{})
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return res, prooftest.OpenAll(t, out)
}

// InitDistance is d0, the l2 distance from the forged W'0 of seed (attacks.ForgeInit at the
// default KS level) to W_T: the line a spoofer must cover, the scale of the tests' thresholds.
func InitDistance(t testing.TB, tg *attacks.Target, seed uint64) float64 {
	t.Helper()
	w0, _, err := attacks.ForgeInit(tg.Model, tg.Final, seed, stats.DefaultInitAlpha)
	if err != nil {
		t.Fatal(err)
	}
	return stats.Distance(w0, tg.Final).L2
}

// L2Budget is the budget of a spoofer targeting an absolute l2 threshold delta.
func L2Budget(t testing.TB, delta float64) attacks.Budget {
	t.Helper()
	b, err := attacks.NewBudget(stats.MetricL2, delta, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The attack packages' tiny honest setting: an MLP on 256 synthetic points of dimension 16 in
// 4 classes (64 test points).
const (
	TinyModel   = "mlp:16-12-4:relu"
	TinyDataset = "synthetic:n=256,test=64,dim=16,classes=4,seed=3"
)

// TinyTarget trains the tiny setting's honest run (4 epochs at batch, k 8, seed 11) in dtype
// dt with hyperparameters h and loads it as the target.
func TinyTarget(t testing.TB, dt autodiff.DType, h proof.Hyper, batch int) *attacks.Target {
	t.Helper()
	return Target(t, prover.Config{Model: TinyModel, Dataset: TinyDataset, DType: dt, Hyper: h, Batch: batch, Epochs: 4, K: 8, Seed: 11})
}

// BNTarget is the target of the BatchNorm test model's honest run (prooftest.BNConfig).
func BNTarget(t testing.TB) *attacks.Target {
	t.Helper()
	return Target(t, prooftest.BNConfig())
}
