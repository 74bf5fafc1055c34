package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"pollab/gauntlet"
)

const tinyGauntlet = `name = "tiny"
model = "mlp:16-8-4:relu"
dataset = "synthetic:n=512,test=128,dim=16,classes=4,seed=1"
dtype = "f64"
seeds = [1]
windows = 3
[peer]
inner_steps = 2
batch = 8
lr = 0.1
[validator]
uids_per_window = 3
bin_size = 8
eval_points = 16
beta = 1.0
clip = "median"
ema = 0.95
penalty = 0.75
power = 2.2
aggregation = "normalise"
outer_lr = 1.0
test_points = 64
[peers]
honest = 2
free_rider_noise = [0.5]
lazy_zero = 1
malformed = 1
`

// TestGauntletCommand runs a tiny spec through the CLI: exit 0, a JSON summary naming every
// peer type, result files and figures on disk.
func TestGauntletCommand(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.toml")
	if err := os.WriteFile(spec, []byte(tinyGauntlet), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	var code int
	stdout := captureStdout(t, func() { code = run([]string{"pollab", "gauntlet", spec, "--json", "--out", out}) })
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	var sum gauntlet.Summary
	if err := json.Unmarshal(stdout, &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if len(sum.Kinds) != 4 || len(sum.Scenarios) != 3 {
		t.Fatalf("summary: %d kinds, %d scenarios", len(sum.Kinds), len(sum.Scenarios))
	}
	for _, f := range append([]string{"peers.csv", "global.csv", "summary.md", "provenance.json"}, gauntlet.FigureNames()...) {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			if _, err2 := os.Stat(filepath.Join(out, "figures", f)); err2 != nil {
				t.Errorf("missing %s", f)
			}
		}
	}
}

func TestGauntletBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte(tinyGauntlet+"bogus = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"pollab", "gauntlet", "no-such-spec"},
		{"pollab", "gauntlet", bad},
		{"pollab", "gauntlet", "a", "b"},
		{"pollab", "gauntlet", "--workers", "-1"},
		{"pollab", "gauntlet", "--windows", "-2"},
	} {
		if code := run(args); code != exitBadInput {
			t.Errorf("%v: exit %d, want %d", args[1:], code, exitBadInput)
		}
	}
}
