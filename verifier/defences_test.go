package verifier_test

import (
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/experiments"
	"pollab/internal/attacktest"
	"pollab/internal/labtest"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
	"pollab/verifier"
)

// runTiny runs the tests' tiny spec (honest proofs, Zhang II, infinitesimal, Blindfold)
// with extra [verify] TOML and returns the rows at env, every interval (Q = 0), all
// metrics at normalised 0.008 of d_ref.
func runTiny(t *testing.T, name, verify string) []experiments.Row {
	t.Helper()
	var out []experiments.Row
	for _, r := range labtest.RunTiny(t, "name = \""+name+"\"\n"+verify) {
		if r.Q == 0 && r.Metric() == experiments.MetricAll && r.Normalized() && r.DeltaNorm() == stats.ReferenceNormalizedDelta {
			out = append(out, r)
		}
	}
	return out
}

// Seed commitment against the real attacks: every honest proof passes (the pollab prover's
// W0 and table derive from its recorded seeds), every naive forgery of Zhang II,
// infinitesimal and Blindfold fails it (a KS-valid forged W0 is not the committed seed's
// init), and the commitment, not the replay, is what rejects them.
func TestCommitmentRejectsNaiveForgeries(t *testing.T) {
	kinds := map[string]int{}
	for _, r := range runTiny(t, "commitment", "[verify.check.commitment]\non = true\n") {
		if r.Env != "exact" {
			continue
		}
		kinds[r.Kind]++
		switch {
		case r.Kind == experiments.KindHonest && !r.Accepted:
			t.Errorf("honest proof %s rejected by %s", r.ProofID, r.FailedCheck)
		case r.Kind != experiments.KindHonest && (r.Accepted || r.FailedCheck != verifier.CheckCommitment):
			t.Errorf("%s proof %s: accepted %v, failed %q; want rejected by the commitment", r.Kind, r.ProofID, r.Accepted, r.FailedCheck)
		}
	}
	for _, k := range []string{experiments.KindHonest, "zhang-II", "infinitesimal", "blindfold"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rows", k)
		}
	}
	t.Logf("rows per kind: %v", kinds)
}

// The task's claims: the honest proofs are the task, the infinitesimal forgery (its tiny
// claimed lr), Zhang II (T' = 2, not the task's T = 6) and Blindfold (its genuine intervals
// claim the lr that makes each update the budget's length, 8.3 and 12.7 at step 0 here, not
// the schedule's 0.1) are not.
func TestTaskRejectsOtherClaims(t *testing.T) {
	task := `[verify.check.task.task]
model = "mlp:8-6-3:relu"
dataset = "synthetic:n=96,test=32,dim=8,classes=3,seed=1"
dtype = "f32"
batch = 16
epochs = 1
steps = 6
lr = 0.1
`
	got := map[string]string{}
	for _, r := range runTiny(t, "task", task) {
		if r.Env != "exact" {
			continue
		}
		got[r.Kind] = r.FailedCheck
		if r.Kind == experiments.KindHonest && !r.Accepted {
			t.Errorf("honest proof %s rejected by %s", r.ProofID, r.FailedCheck)
		}
	}
	for _, k := range []string{"zhang-II", "infinitesimal", "blindfold"} {
		if got[k] != verifier.CheckTask {
			t.Errorf("%s: failed check %q, want task", k, got[k])
		}
	}
	t.Logf("failed checks per kind: %v", got)
}

// Exact replay: delta 0 accepts honest proofs in the exact env and rejects them in the dtype
// env (its honest false-reject rate there is 1); every forgery fails it in exact.
func TestExactReplay(t *testing.T) {
	n, rejected := map[string]int{}, map[string]int{}
	for _, r := range runTiny(t, "exact-replay", "[verify.check.exact-replay]\non = true\n") {
		key := r.Kind + " in " + r.Env
		n[key]++
		if !r.Accepted {
			rejected[key]++
			if r.FailedCheck != verifier.CheckExactReplay && r.FailedCheck != verifier.CheckTopQ {
				t.Errorf("%s: failed %q", key, r.FailedCheck)
			}
		}
	}
	want := map[string]int{"honest in exact": 0, "honest in dtype": n["honest in dtype"],
		"infinitesimal in exact": n["infinitesimal in exact"], "zhang-II in exact": n["zhang-II in exact"]}
	for key, w := range want {
		if n[key] == 0 || rejected[key] != w {
			t.Errorf("%s: %d of %d rejected, want %d", key, rejected[key], n[key], w)
		}
	}
	t.Logf("rejected/rows: %v / %v", rejected, n)
}

func commitProof(t *testing.T, nonce string) string {
	cfg := prover.Config{Model: "mlp:6-5-3:relu", Dataset: "synthetic:n=48,test=16,dim=6,classes=3,seed=2", DType: autodiff.Float32,
		Batch: 8, Epochs: 2, K: 3, Seed: 5, CommitNonce: nonce}
	cfg.Hyper.LR, cfg.Hyper.Gamma = 0.1, 0.1
	return prooftest.Train(t, cfg)
}

func decide(t *testing.T, dir string, c verifier.Check) verifier.Verdict {
	t.Helper()
	pol := verifier.Reference(verifier.Selection{Metrics: stats.Metrics}, stats.Distances{}, c)
	return pol.Decide(attacktest.Gather(t, prooftest.OpenAll(t, dir), "exact", pol))
}

// The nonce and the hash: a proof committed under the verifier's nonce passes; another
// nonce, no commitment where one is required, edited seeds (the hash no longer matches), and
// edited seeds with a recomputed hash (W0 or the batches no longer derive from them) fail.
func TestCommitmentNonceAndTampering(t *testing.T) {
	dir := commitProof(t, "challenge-42")
	if m := prooftest.ReadManifest(t, dir); m.Commitment == nil || m.Commitment.SHA256 != proof.CommitSeeds(m.Seeds, "challenge-42") {
		t.Fatalf("prover recorded commitment %+v", m.Commitment)
	}
	plain := commitProof(t, "")
	cases := []struct {
		name   string
		dir    string
		nonce  string
		edit   func(m *proof.Manifest)
		reason string // "" accepted
	}{
		{"committed, verifier's nonce", dir, "challenge-42", nil, ""},
		{"committed, no nonce required", dir, "", nil, ""},
		{"other nonce", dir, "challenge-43", nil, `committed under nonce "challenge-42"`},
		{"no commitment, nonce required", plain, "challenge-42", nil, "records no seed commitment"},
		{"no commitment, recorded seeds", plain, "", nil, ""},
		{"seeds edited", dir, "", func(m *proof.Manifest) { m.Seeds.Init++ }, "not the hash"},
		{"init seed edited, hash recomputed", dir, "challenge-42", func(m *proof.Manifest) {
			m.Seeds.Init++
			m.Commitment.SHA256 = proof.CommitSeeds(m.Seeds, m.Commitment.Nonce)
		}, "W0 is not the model's init"},
		{"data seed edited, hash recomputed", dir, "challenge-42", func(m *proof.Manifest) {
			m.Seeds.Data++
			m.Commitment.SHA256 = proof.CommitSeeds(m.Seeds, m.Commitment.Nonce)
		}, "step 0's batch is not the committed schedule's"},
	}
	for _, tc := range cases {
		d := tc.dir
		if tc.edit != nil {
			d = prooftest.Copy(t, tc.dir)
			prooftest.EditManifest(t, d, tc.edit)
		}
		v := decide(t, d, verifier.CommitmentCheck{Nonce: tc.nonce})
		switch {
		case tc.reason == "" && !v.Accepted:
			t.Errorf("%s: rejected: %s %s", tc.name, v.Check, v.Reason)
		case tc.reason != "" && (v.Accepted || v.Check != verifier.CheckCommitment || !strings.Contains(v.Reason, tc.reason)):
			t.Errorf("%s: %+v, want a commitment rejection naming %q", tc.name, v, tc.reason)
		}
	}
}

// The task check on one proof: the task its manifest claims passes; each claim changed
// alone, the nonce the task fixes, and a checkpoint lr off the task's schedule fail.
func TestTaskClaims(t *testing.T) {
	dir := commitProof(t, "n")
	m := prooftest.ReadManifest(t, dir)
	base := verifier.TaskOf(m)
	if v := decide(t, dir, verifier.TaskCheck{Task: base}); !v.Accepted {
		t.Fatalf("the proof's own task: %+v", v)
	}
	for name, edit := range map[string]func(*verifier.Task){
		"claimed steps T": func(x *verifier.Task) { x.Steps++ },
		"claimed lr":      func(x *verifier.Task) { x.LR *= 2 },
		"claimed batch B": func(x *verifier.Task) { x.Batch = 4 },
		"claimed model":   func(x *verifier.Task) { x.Model = "mlp:6-4-3:relu" },
		"claimed lr milestones (steps)": func(x *verifier.Task) {
			x.Milestones, x.Gamma = []int{3}, 0.5
		},
		"nonce": func(x *verifier.Task) { x.Nonce = "other" },
	} {
		task := base
		edit(&task)
		v := decide(t, dir, verifier.TaskCheck{Task: task})
		if v.Accepted || v.Check != verifier.CheckTask || !strings.Contains(v.Reason, name) {
			t.Errorf("%s changed: %+v", name, v)
		}
	}
	// A schedule with a milestone both in the manifest and the task: the claims match, but
	// a checkpoint storing the pre-milestone lr disagrees with the task's schedule.
	task := base
	task.Milestones, task.Gamma = []int{3}, 0.5
	d := prooftest.Copy(t, dir)
	prooftest.EditManifest(t, d, func(m *proof.Manifest) { m.Optimizer.Milestones, m.Optimizer.Gamma = []int{3}, 0.5 })
	if v := decide(t, d, verifier.TaskCheck{Task: task}); v.Accepted || v.Check != verifier.CheckTask || v.Step != 3 {
		t.Errorf("checkpoint off the task's schedule: %+v", v)
	}
}
