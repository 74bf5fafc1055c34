package experiments

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
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
	diff, err := DiffResults(filepath.Join(out, ResultsCSV), filepath.Join(local, ResultsCSV))
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("job-by-job results.csv differs from the local run's: %s", diff)
	}
	// DiffResults itself: it ignores cost_wall_s and nothing else.
	rows, err := ReadCSVFile(filepath.Join(local, ResultsCSV))
	if err != nil {
		t.Fatal(err)
	}
	for i, change := range []func(*Row){func(r *Row) { r.CostWallS += 1 }, func(r *Row) { r.Checked++ }} {
		mod := slices.Clone(rows)
		change(&mod[len(mod)/2])
		p := filepath.Join(t.TempDir(), "mod.csv")
		if err := WriteCSVFile(p, mod); err != nil {
			t.Fatal(err)
		}
		if d, err := DiffResults(p, filepath.Join(local, ResultsCSV)); err != nil || (d == "") != (i == 0) {
			t.Fatalf("change %d: diff %q, %v", i, d, err)
		}
	}
}
