// Package labtest runs the lab's harness for the tests of its plug-ins outside package
// experiments (a new attack, a new check: docs/EXTENDING.md): a spec on top of the tests'
// tiny spec, run by experiments.Run into a temporary directory, its results.csv read back.
// It is imported only by _test.go files.
package labtest

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"pollab/experiments"
)

// TinySpec is the path of the tests' tiny spec, experiments/testdata/tiny.toml: two honest
// seeds (proofs at k 2 and 3 of T = 6 steps), Zhang II, infinitesimal and Blindfold.
func TinySpec() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "experiments", "testdata", "tiny.toml")
}

// RunTiny runs the tiny spec extended by overlay (TOML: the run's name and what it adds or
// replaces, e.g. an [[attack]] list or a [verify.check.NAME] section) and returns the rows
// of its results.csv.
func RunTiny(t testing.TB, overlay string) []experiments.Row {
	t.Helper()
	spec, err := experiments.ParseSpec([]byte("extends = '" + TinySpec() + "'\n" + overlay))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := experiments.Run(context.Background(), spec, experiments.Options{Out: t.TempDir(), Workers: 2, NoFigures: true})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := experiments.ReadCSVFile(rep.CSV)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
