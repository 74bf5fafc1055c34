package experiments

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pollab/stats"
	"pollab/verifier"
)

// The matrix through the harness: a tiny spec with four defences and naive and adaptive
// attacks. Every cell is traced back to its proofs' cached Evidence, on which the defence's
// verifier (built here by hand) gives the cell's verdicts; membership stops Zhang et al.'s
// crafted points but not the attacker restricted to real points; the matrix tables are
// regenerated from results.csv alone.
func TestMatrixThroughTheHarness(t *testing.T) {
	spec := tinyWith(t, `
name = "matrix-tiny"
[[verify.defence]]
name = "top-Q"
[[verify.defence]]
name = "membership"
check.membership.on = true
[[verify.defence]]
name = "exact replay"
delta = 0.0
[[verify.defence]]
name = "commitment"
check.commitment.on = true
[[attack]]
kind = "zhang"
variant = "II"
steps = [2]
iters = 2
[[attack]]
kind = "zhang"
variant = "II"
points = "real"
steps = [2]
retries = 3
[[attack]]
kind = "infinitesimal"
init = "committed"
delta = [0.008]
`)
	out := t.TempDir()
	rows := runRows(t, spec, out)
	m := BuildMatrix(rows)
	if m == nil {
		t.Fatal("no matrix from a spec with defences")
	}
	if want := []string{"top-Q", "membership", "exact replay", "commitment"}; !slices.Equal(m.Defences, want) {
		t.Fatalf("defences %q, want the spec's order %q", m.Defences, want)
	}
	if want := []string{KindHonest, "infinitesimal-committed", "zhang-II", "zhang-II-real"}; !slices.Equal(m.Kinds, want) {
		t.Fatalf("kinds %q, want %q", m.Kinds, want)
	}
	l2 := func(delta float64, checks ...verifier.Check) verifier.Policy {
		all := append([]verifier.Check{verifier.InitCheck{Alpha: stats.DefaultInitAlpha}, verifier.DataCheck{}}, checks...)
		all = append(all, verifier.ReplayCheck{Delta: stats.Distances{L2: delta}, Metrics: []string{stats.MetricL2}, Normalized: true})
		return verifier.NewPolicy(verifier.Selection{Q: 1, AuditSeed: 7, Metrics: []string{stats.MetricL2}}, all...)
	}
	policies := map[string]verifier.Policy{
		"top-Q":        l2(ReferenceNormalizedDelta),
		"membership":   l2(ReferenceNormalizedDelta, verifier.MembershipCheck{}),
		"exact replay": l2(0),
		"commitment":   l2(ReferenceNormalizedDelta, verifier.CommitmentCheck{}),
	}
	cells := 0
	for _, env := range m.Envs {
		for _, kind := range m.Kinds {
			for _, d := range m.Defences {
				c := m.Cell(kind, env, d)
				if c == nil || c.Proofs != 2 || len(c.ProofIDs) != 2 {
					t.Fatalf("%s/%s/%s: %+v, want the two seeds' proofs", kind, env, d, c)
				}
				cells++
				accepted := 0
				for _, id := range c.ProofIDs {
					files, _ := filepath.Glob(filepath.Join(out, "cache", "evidence", id+"-"+sanitize(env)+"-*.json"))
					if len(files) != 1 {
						t.Fatalf("proof %s in %s: %d evidence files", id, env, len(files))
					}
					var ev verifier.Evidence
					if err := readJSON(files[0], &ev); err != nil {
						t.Fatal(err)
					}
					if v := policies[d].Decide(&ev); v.Accepted {
						accepted++
					}
				}
				if accepted != c.Accepted {
					t.Errorf("%s/%s/%s: %d of %d accepted in the matrix, %d on the cached Evidence", kind, env, d, c.Accepted, c.Proofs, accepted)
				}
			}
		}
	}
	if cells != len(m.Envs)*len(m.Kinds)*len(m.Defences) {
		t.Fatalf("%d cells", cells)
	}
	if c := m.Cell("zhang-II", "exact", "membership"); c.Accepted != 0 || c.RejectedBy[verifier.CheckMembership] != 2 {
		t.Errorf("membership against crafted points: %+v", c)
	}
	if c := m.Cell("zhang-II-real", "exact", "membership"); c.RejectedBy[verifier.CheckMembership] != 0 {
		t.Errorf("membership rejected real points: %+v", c)
	}
	// The seed commitment rejects the naive forgeries' W0 or batches, not the adaptive
	// attacker's committed W0 over the committed schedule, nor honest proofs.
	if c := m.Cell("zhang-II", "exact", "commitment"); c.RejectedBy[verifier.CheckCommitment] != 2 {
		t.Errorf("commitment against zhang-II: %+v", c)
	}
	if c := m.Cell("infinitesimal-committed", "exact", "commitment"); c.RejectedBy[verifier.CheckCommitment] != 0 {
		t.Errorf("commitment rejected the committed W0: %+v", c)
	}
	if c := m.Cell(KindHonest, "exact", "commitment"); c.Accepted != 2 {
		t.Errorf("commitment rejected honest proofs: %+v", c)
	}
	if c := m.Cell(KindHonest, "exact", "exact replay"); c.Accepted != 2 || !(c.Verifier > 0) {
		t.Errorf("honest proofs under exact replay in env exact: %+v", c)
	}
	if c := m.Cell(KindHonest, "dtype", "exact replay"); c.Accepted != 0 {
		t.Errorf("exact replay accepted an f64 replay of an f32 proof: %+v", c)
	}
	// The defence rows leave the grid's summary alone, and the tables regenerate from the CSV.
	if got, want := Summarize(rows).Markdown(), Summarize(withoutDefences(rows)).Markdown(); !bytes.Equal(got, want) {
		t.Error("the defence rows changed the summary")
	}
	again := t.TempDir()
	if err := WriteTables(again, Summarize(rows), rows); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{MatrixCSV, MatrixMD, MatrixTeX} {
		a, errA := os.ReadFile(filepath.Join(out, name))
		b, errB := os.ReadFile(filepath.Join(again, name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s: not regenerated from results.csv (%v, %v)", name, errA, errB)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, MatrixMD))
	if !strings.Contains(string(md), "| zhang-II (") || !strings.Contains(string(md), "0/2 membership") {
		t.Errorf("matrix.md:\n%s", md)
	}
}

// A malformed defence is an error naming it.
func TestDefenceSpecErrors(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"[[verify.defence]]\nq = 1", "no name"},
		{"[[verify.defence]]\nname = \"a\"\n[[verify.defence]]\nname = \"a\"", "named twice"},
		{"[[verify.defence]]\nname = \"a\"\ndelta = -1.0", "delta"},
		{"[[verify.defence]]\nname = \"a\"\nq = 0\naudit = 1", "audits need top-Q"},
		{"[[verify.defence]]\nname = \"a\"\ncheck.nope.on = true", "nope"},
		{"[[verify.defence]]\nname = \"a\"\ncheck.membership.bogus = true", "bogus"},
		{"[[verify.defence]]\nname = \"a\"\ncheck.replay.metrics = [\"l1\"]", "its delta"},
		{"[[verify.defence]]\nname = \"a\"\nhparams = \"x\"", "hparams"},
	} {
		_, err := parseTiny(c.toml)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.toml, err, c.want)
		}
	}
}
