// Package attacktest holds what the tests of attacks against the real verifier share: an
// honest target trained for the test, and the verifier's Evidence on a (forged) proof. It
// imports attacks and verifier, so only external test packages (and the attack packages'
// tests) use it; it is imported only by _test.go files.
package attacktest

import (
	"context"
	"testing"

	"pollab/attacks"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
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
// (rounded to the run's dtype), and whether the batch table is exactly the first T rows of
// the schedule from the recorded data seed over the declared dataset.
func Commitment(t testing.TB, p *proof.Proof) (initOK, batchesOK bool) {
	t.Helper()
	ev := Gather(t, p, "exact", verifier.NewPolicy(verifier.Selection{}, verifier.CommitmentCheck{}))
	var f verifier.CommitmentFinding
	if ok, err := ev.Finding(verifier.CheckCommitment, &f); !ok || err != nil {
		t.Fatalf("no commitment finding (%v)", err)
	}
	return f.FirstBadParam == -1, f.FirstBadStep == -1
}
