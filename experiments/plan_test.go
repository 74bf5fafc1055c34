package experiments

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPlanJobsReproduceRun runs the tiny spec job by job through RunJob, in a fresh directory
// and in stage order as a scheduler would, and compares the merged results.csv with a local
// Run of the same spec in another directory: every column but cost_wall_s must be identical.
// Along the way: a job whose inputs are missing refuses to run, the plan marks exactly the
// finished jobs done, and a done job never runs again.
func TestPlanJobsReproduceRun(t *testing.T) {
	spec := loadTiny(t)
	ctx := context.Background()
	local := t.TempDir()
	if _, err := Run(ctx, spec, Options{Out: local, Workers: 2, NoFigures: true}); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	opt := Options{Out: out, Workers: 1, NoFigures: true}
	plan, err := NewPlan(spec, opt)
	if err != nil {
		t.Fatal(err)
	}
	// tiny: 2 seeds x 2 k honest; 2 seeds x (zhang-II, infinitesimal, blindfold) forged;
	// 10 proofs x 2 envs verified.
	want := map[string]int{StageHonest: 4, StageCalibrate: 1, StageForge: 6, StageVerify: 20, StageMerge: 1}
	ids := map[string]bool{}
	for _, st := range plan.Stages {
		if len(st.Jobs) != want[st.Name] || len(st.Missing()) != want[st.Name] {
			t.Fatalf("stage %s: %d jobs, %d missing, want %d", st.Name, len(st.Jobs), len(st.Missing()), want[st.Name])
		}
		for _, j := range st.Jobs {
			if ids[j.ID] {
				t.Fatalf("job ID %s twice", j.ID)
			}
			ids[j.ID] = true
			if st.Name != StageCalibrate && st.Name != StageMerge && !(j.FLOPs > 0 && j.Bytes > 0) {
				t.Fatalf("job %s %d: estimates %g FLOPs, %d bytes", st.Name, j.Index, j.FLOPs, j.Bytes)
			}
		}
	}
	for _, stage := range []string{StageCalibrate, StageForge, StageVerify, StageMerge} {
		if _, err := RunJob(ctx, spec, opt, stage, 0); !errors.Is(err, ErrInputsMissing) {
			t.Fatalf("%s 0 on an empty cache: %v, want ErrInputsMissing", stage, err)
		}
	}

	for _, st := range plan.Stages {
		// Run the stage's jobs in reverse: a job depends only on earlier stages.
		for i := len(st.Jobs) - 1; i >= 0; i-- {
			ran, err := RunJob(ctx, spec, opt, st.Name, i)
			if err != nil {
				t.Fatalf("%s %d: %v", st.Name, i, err)
			}
			if !ran {
				t.Fatalf("%s %d: reported done before it ran", st.Name, i)
			}
		}
		after, err := NewPlan(spec, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range after.Stages {
			done := slices.Index(Stages, a.Name) <= slices.Index(Stages, st.Name)
			if m := a.Missing(); done && len(m) > 0 || !done && len(m) != len(a.Jobs) {
				t.Fatalf("after stage %s: stage %s misses %v", st.Name, a.Name, m)
			}
		}
		if ran, err := RunJob(ctx, spec, opt, st.Name, 0); err != nil || ran {
			t.Fatalf("%s 0 again: ran %v, %v", st.Name, ran, err)
		}
	}
	got, wantRows := csvWithoutWall(t, filepath.Join(out, ResultsCSV)), csvWithoutWall(t, filepath.Join(local, ResultsCSV))
	if len(got) < 100 || !slices.Equal(got, wantRows) {
		for i := range min(len(got), len(wantRows)) {
			if got[i] != wantRows[i] {
				t.Errorf("first difference, line %d:\n%s\n%s", i, got[i], wantRows[i])
				break
			}
		}
		t.Fatalf("job-by-job results.csv (%d rows) differs from the local run's (%d rows)", len(got), len(wantRows))
	}
}

// csvWithoutWall is results.csv's records without the cost_wall_s column (the one column that
// differs between runs of the same spec), each joined with tabs.
func csvWithoutWall(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(recs[0], "cost_wall_s")
	if col < 0 {
		t.Fatal("results.csv has no cost_wall_s column")
	}
	var lines []string
	for _, r := range recs {
		lines = append(lines, strings.Join(slices.Delete(r, col, col+1), "\t"))
	}
	return lines
}
