package experiments

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestDemoReproducesTheCommittedReference reruns the demo spec (what `pollab demo` runs) and
// requires results/reference back: every results.csv row and column but the wall-clock one
// (cost_wall_s), and every other file byte for byte (summaries, comparisons, figures and
// their captions), except run.json and provenance.json, which record paths and times. The
// committed reference comes from an older build, so this is what pins "a refactor changes no
// result".
func TestDemoReproducesTheCommittedReference(t *testing.T) {
	if testing.Short() {
		t.Skip("reruns the demo (about 30 s)")
	}
	ref := filepath.Join("..", "results", "reference")
	spec, err := LoadSpec("demo")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	rep, err := Run(context.Background(), spec, Options{Out: out, CacheDir: t.TempDir(), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}

	got, want := csvRecords(t, rep.CSV), csvRecords(t, filepath.Join(ref, ResultsCSV+".gz"))
	if len(got) != len(want) || len(want) < 2 {
		t.Fatalf("results.csv: %d records, results/reference has %d", len(got), len(want))
	}
	if !slices.Equal(got[0], want[0]) {
		t.Fatalf("results.csv header:\n%v\nresults/reference:\n%v", got[0], want[0])
	}
	wall := slices.Index(want[0], "cost_wall_s")
	if wall < 0 {
		t.Fatal("results/reference has no cost_wall_s column")
	}
	differ := 0
	for i := 1; i < len(want); i++ {
		got[i][wall], want[i][wall] = "", ""
		if !slices.Equal(got[i], want[i]) {
			if differ++; differ <= 3 {
				t.Errorf("results.csv row %d:\n%v\nresults/reference:\n%v", i, got[i], want[i])
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d rows differ from results/reference", differ, len(want)-1)
	}

	compared := 0
	err = filepath.WalkDir(ref, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(ref, path)
		switch rel {
		case ResultsCSV + ".gz", RunJSON, ProvenanceJSON:
			return nil
		}
		wantB, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		gotB, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil || !bytes.Equal(gotB, wantB) {
			t.Errorf("%s differs from results/reference/%s (%v)", rel, rel, err)
		}
		compared++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if compared < 10 {
		t.Errorf("compared only %d files of results/reference", compared)
	}
	t.Logf("%d rows and %d files equal to results/reference", len(want)-1, compared)
}

// csvRecords reads a results CSV (openCSVFile) as raw records, every column as written.
func csvRecords(t *testing.T, path string) [][]string {
	t.Helper()
	r, err := openCSVFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}
