package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"pollab/autodiff"
	"pollab/models"
)

func loadTiny(t *testing.T) *Spec {
	t.Helper()
	s, err := LoadSpec(filepath.Join("testdata", "tiny.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parseTiny parses the tiny spec (testdata/tiny.toml) extended by the TOML overlay.
func parseTiny(overlay string) (*Spec, error) {
	return ParseSpec([]byte("extends = \"testdata/tiny.toml\"\n" + overlay))
}

// tinyWith is parseTiny's spec; an error fails the test.
func tinyWith(t *testing.T, overlay string) *Spec {
	t.Helper()
	s, err := parseTiny(overlay)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runRows runs spec into out (two workers, no figures) and returns its results.csv rows.
func runRows(t *testing.T, spec *Spec, out string) []Row {
	t.Helper()
	rep, err := Run(context.Background(), spec, Options{Out: out, Workers: 2, NoFigures: true})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadCSVFile(rep.CSV)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestRunTwiceReexecutesNothing runs a tiny spec twice into one directory: the second run
// must find every proof and Evidence in the cache, re-execute no step and write the same CSV.
func TestRunTwiceReexecutesNothing(t *testing.T) {
	spec := loadTiny(t)
	out := t.TempDir()
	first, err := Run(context.Background(), spec, Options{Out: out, Workers: 2, NoFigures: true})
	if err != nil {
		t.Fatal(err)
	}
	if first.Ledger.ProofsBuilt == 0 || first.Ledger.TrainedSteps == 0 || first.Ledger.ReexecutedSteps == 0 {
		t.Fatalf("first run computed nothing: %+v", first.Ledger)
	}
	csv1, err := os.ReadFile(first.CSV)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Run(context.Background(), spec, Options{Out: out, Workers: 2, NoFigures: true})
	if err != nil {
		t.Fatal(err)
	}
	l := second.Ledger
	if l.ProofsBuilt != 0 || l.TrainedSteps != 0 || l.ForgedSteps != 0 || l.EvidenceBuilt != 0 || l.ReexecutedSteps != 0 {
		t.Fatalf("second run recomputed: %+v", l)
	}
	if l.ProofsCached != first.Ledger.ProofsBuilt || l.EvidenceCached != first.Ledger.EvidenceBuilt {
		t.Fatalf("second run cached %d proofs / %d evidence, first built %d / %d",
			l.ProofsCached, l.EvidenceCached, first.Ledger.ProofsBuilt, first.Ledger.EvidenceBuilt)
	}
	csv2, err := os.ReadFile(second.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(csv1, csv2) {
		t.Fatal("the cached rerun wrote a different CSV")
	}

	// Another engine build (a bumped autodiff.Semantics, another BLAS or GOARCH) reuses no
	// proof and no Evidence (the verifier's re-execution cache is keyed on the build too:
	// verifier's TestCacheKeyCarriesTheEngineBuild). Its proofs are the same bytes here, so
	// the CSV is too but for cost_wall_s.
	saved := engineBuild
	engineBuild = "semantics=999 blas=test goarch=test"
	third, err := Run(context.Background(), spec, Options{Out: out, Workers: 2, NoFigures: true})
	engineBuild = saved
	if err != nil {
		t.Fatal(err)
	}
	if l := third.Ledger; l.ProofsCached != 0 || l.EvidenceCached != 0 || l.ProofsBuilt != first.Ledger.ProofsBuilt || l.EvidenceBuilt != first.Ledger.EvidenceBuilt {
		t.Fatalf("after an engine build change: %+v, want every proof and Evidence rebuilt (first run %+v)", l, first.Ledger)
	}
	firstCSV := filepath.Join(t.TempDir(), "first.csv")
	if err := os.WriteFile(firstCSV, csv1, 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := DiffResults(firstCSV, third.CSV); err != nil || d != "" {
		t.Fatalf("rebuild under a changed build key wrote different results: %s %v", d, err)
	}

	// What the CSV claims is consistent with the spec: 2 seeds x 2 k honest proofs, and
	// 2 seeds x (zhang-II + infinitesimal + blindfold) forgeries, each verified in both envs.
	rows, err := ReadCSVFile(second.CSV)
	if err != nil {
		t.Fatal(err)
	}
	proofs := map[string]string{}
	pairs := map[[2]string]bool{}
	for _, r := range rows {
		proofs[r.ProofID] = r.Kind
		pairs[[2]string{r.ProofID, r.Env}] = true
		// An honest proof's cost is its training and nothing else: per step one gradient
		// (3·F·B FLOPs) and the optimizer's axpys (6 per parameter), counted by the ledger;
		// the test-set evaluation stays out. (Its cost fraction, cost over itself, tests nothing.)
		if r.Kind == KindHonest {
			m, err := models.Parse(r.Model)
			if err != nil {
				t.Fatal(err)
			}
			want := float64(r.Steps) * (3*m.FLOPsPerSample()*float64(spec.Train.Batch) + 6*float64(m.NumParams()))
			if r.CostFLOPs != want || r.HonestFLOPs != want {
				t.Fatalf("honest proof %s: cost_flops %v, honest_flops_same_T %v, want %d steps of training = %v",
					r.ProofID, r.CostFLOPs, r.HonestFLOPs, r.Steps, want)
			}
		}
		if r.Metric() != MetricAll && !(r.DRef() > 0) {
			t.Fatalf("row without d_ref: %+v", r)
		}
	}
	count := map[string]int{}
	for _, k := range proofs {
		count[k]++
	}
	if count[KindHonest] != 4 || count["zhang-II"] != 2 || count[KindInfinitesimal] != 2 || count[KindBlindfold] != 2 || len(pairs) != 20 {
		t.Fatalf("proof kinds %v and %d (proof, env) pairs; want 4 honest, 2 of each forgery, 20 pairs", count, len(pairs))
	}
	// Exact re-execution of an honest proof is bit-identical: every interval at distance 0.
	for _, r := range rows {
		if r.Kind == KindHonest && r.Env == "exact" && (!r.Accepted || r.MaxRepro[1] != 0) {
			t.Fatalf("honest proof rejected or inexact in the exact env: %+v", r)
		}
	}
	for _, name := range []string{SummaryJSON, SummaryMD, SummaryCSV, ProvenanceJSON, RunJSON} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	// Provenance names the GEMM build: results are bit-exact only under the same one.
	var prov struct {
		Machine struct {
			BLAS string `json:"blas"`
		} `json:"machine"`
	}
	if b, err := os.ReadFile(filepath.Join(out, ProvenanceJSON)); err != nil || json.Unmarshal(b, &prov) != nil {
		t.Fatalf("provenance.json unreadable: %v", err)
	}
	if prov.Machine.BLAS == "" || prov.Machine.BLAS != autodiff.BLAS() {
		t.Errorf("provenance machine.blas %q, this build runs %q", prov.Machine.BLAS, autodiff.BLAS())
	}
	// The cached rerun and the rebuild under another engine build appended their records:
	// provenance.json and run.json keep the first run's ledger (not the rerun's all-cached
	// one) and list the later runs' in order.
	var full Provenance
	var run Report
	for name, v := range map[string]any{ProvenanceJSON: &full, RunJSON: &run} {
		if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("%s unreadable: %v", name, err)
		}
	}
	if full.Ledger != first.Ledger || len(full.Reruns) != 2 || full.Reruns[0].Ledger != second.Ledger || full.Reruns[1].Ledger != third.Ledger {
		t.Errorf("provenance ledger %+v, reruns %+v: want the first run's %+v, then reruns %+v and %+v", full.Ledger, full.Reruns, first.Ledger, second.Ledger, third.Ledger)
	}
	if run.Ledger != first.Ledger || len(run.Reruns) != 2 || run.Reruns[0].Ledger != second.Ledger || run.Reruns[1].Ledger != third.Ledger {
		t.Errorf("run.json ledger %+v, reruns %+v: want the first run's and two reruns", run.Ledger, run.Reruns)
	}
}

// TestRunResumesAfterKill stops a run once the honest proofs exist (as a kill would) and
// checks that the next run keeps them and finishes the rest.
func TestRunResumesAfterKill(t *testing.T) {
	spec := loadTiny(t)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Run(ctx, spec, Options{Out: out, Workers: 2, NoFigures: true, Progress: func(done, total int, note string) {
		if note == "forgeries" {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("a cancelled run reported success")
	}
	if _, err := os.Stat(filepath.Join(out, ResultsCSV)); err == nil {
		t.Fatal("a cancelled run wrote results.csv")
	}
	rep, err := Run(context.Background(), spec, Options{Out: out, Workers: 2, NoFigures: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ledger.ProofsCached < 4 || rep.Ledger.TrainedSteps != 0 {
		t.Fatalf("resumed run retrained honest proofs: %+v", rep.Ledger)
	}
}
