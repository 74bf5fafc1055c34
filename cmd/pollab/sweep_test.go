package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pollab/experiments"
)

// TestSweepTwiceThenFigures runs the tiny test spec twice through the CLI (the second run
// must re-execute nothing and write the same CSV), then redraws from the CSV alone.
func TestSweepTwiceThenFigures(t *testing.T) {
	spec := filepath.Join("..", "..", "experiments", "testdata", "tiny.toml")
	out := t.TempDir()
	args := []string{"pollab", "sweep", "--json", "--out", out, spec}
	var reports [2]experiments.Report
	var csvs [2][]byte
	for i := range reports {
		var code int
		stdout := captureStdout(t, func() { code = run(args) })
		if code != exitOK {
			t.Fatalf("run %d: exit %d\n%s", i+1, code, stdout)
		}
		if err := json.Unmarshal(stdout, &reports[i]); err != nil {
			t.Fatalf("run %d: --json output: %v\n%s", i+1, err, stdout)
		}
		b, err := os.ReadFile(filepath.Join(out, experiments.ResultsCSV))
		if err != nil {
			t.Fatal(err)
		}
		csvs[i] = b
	}
	if reports[0].Ledger.ReexecutedSteps == 0 || reports[1].Ledger.ReexecutedSteps != 0 || reports[1].Ledger.ProofsBuilt != 0 {
		t.Fatalf("ledgers: first %+v, second %+v", reports[0].Ledger, reports[1].Ledger)
	}
	if !bytes.Equal(csvs[0], csvs[1]) {
		t.Fatal("the second run wrote a different CSV")
	}
	if len(reports[1].Figures) == 0 || len(reports[1].Figures) > len(experiments.FigureNames()) {
		t.Fatalf("%d figures of %d registered", len(reports[1].Figures), len(experiments.FigureNames()))
	}

	// figures from the CSV alone: remove everything else first.
	if err := os.RemoveAll(filepath.Join(out, "cache")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(out, experiments.FiguresDir)); err != nil {
		t.Fatal(err)
	}
	var code int
	stdout := captureStdout(t, func() { code = run([]string{"pollab", "figures", out}) })
	if code != exitOK {
		t.Fatalf("figures: exit %d\n%s", code, stdout)
	}
	// The same figures as the run drew, each with its caption.
	for _, png := range reports[1].Figures {
		name := strings.TrimSuffix(filepath.Base(png), ".png")
		for _, ext := range append(slices.Clone(experiments.FigureFormats), "md") {
			st, err := os.Stat(filepath.Join(out, experiments.FiguresDir, name+"."+ext))
			if err != nil || st.Size() == 0 {
				t.Errorf("%s.%s: %v", name, ext, err)
			}
		}
	}
	if !strings.Contains(string(stdout), "summary:") {
		t.Errorf("figures output lacks the summary path:\n%s", stdout)
	}
}

func TestFiguresAndSweepBadInput(t *testing.T) {
	// The demo's results (synthetic data) beside the committed PyTorch noise measurement (MNIST
	// MLP, synthetic CNNs in other settings): nothing to import, and nothing written.
	demo := t.TempDir()
	for _, name := range []string{experiments.ProvenanceJSON, experiments.ResultsCSV + ".gz"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "results", "reference", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(demo, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	noise := filepath.Join("..", "..", "results", "torch-noise")
	for _, args := range [][]string{
		{"pollab", "figures", "--measured", noise, demo},        // no measurement in the demo's setting
		{"pollab", "figures", "--measured", t.TempDir(), demo},  // not a measurement
		{"pollab", "figures", "--measured", noise, t.TempDir()}, // no results
		{"pollab", "figures", t.TempDir()},                      // no CSV
		{"pollab", "figures"},                                   // no DIR
		{"pollab", "sweep", "no-such-spec"},                     // neither file nor embedded
		{"pollab", "sweep"},                                     // no CONFIG
		{"pollab", "demo", "extra"},                             // demo takes no argument
		{"pollab", "sweep", "--workers", "-1", "demo"},
	} {
		if code := run(args); code != exitBadInput {
			t.Errorf("%v: exit %d, want %d", args[1:], code, exitBadInput)
		}
	}
	if _, err := os.Stat(filepath.Join(demo, experiments.MeasuredNoiseCSV)); err == nil {
		t.Errorf("a refused --measured wrote %s", experiments.MeasuredNoiseCSV)
	}
}
