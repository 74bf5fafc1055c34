package experiments

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// overrideBase is a spec with a lr schedule and one attack of each kind.
const overrideBase = `name = "ov"
models = ["mlp:4-3-2:relu"]
dataset = "synthetic:n=64,test=16,dim=4,classes=2,seed=1"
seeds = [1, 2, 3]
[train]
epochs = 200
batch = 8
lr = 0.1
milestones = [100, 150]
k = [2]
[verify]
envs = ["exact"]
[[attack]]
kind = "zhang"
variant = "II"
steps = [10, 20]
[[attack]]
kind = "zhang"
variant = "III"
steps = [10]
[[attack]]
kind = "infinitesimal"
k = 4
[[attack]]
kind = "blindfold"
q = 1
`

func writeSpec(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The overrides give the same spec (same hash) as the hand-edited TOML they stand for.
func TestOverridesEqualTheEditedSpec(t *testing.T) {
	dir := t.TempDir()
	base := writeSpec(t, dir, "base.toml", overrideBase)
	got, err := LoadSpecWith(base, Overrides{Epochs: 2, Seeds: 2, ForgedSteps: []int{5},
		Set: []string{"verify.q=[1, 0]", "attack.zhang-III.lambda=0.5", "attack.blindfold.q=2", "dtype=f64"}})
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer(
		"seeds = [1, 2, 3]", "seeds = [1, 2]\ndtype = \"f64\"",
		"epochs = 200", "epochs = 2",
		"milestones = [100, 150]", "milestones = [1, 1.5]",
		"steps = [10, 20]", "steps = [5]",
		"variant = \"III\"\nsteps = [10]", "variant = \"III\"\nsteps = [5]\nlambda = 0.5",
		"k = 4", "k = 4\nsteps = [5]",
		"q = 1", "q = 2",
		"envs = [\"exact\"]", "envs = [\"exact\"]\nq = [1, 0]",
	).Replace(overrideBase)
	want, err := LoadSpec(writeSpec(t, dir, "edited.toml", edited))
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != want.Hash() {
		t.Errorf("overridden spec differs from the edited one:\n got  %+v\n want %+v", got, want)
	}
	if !slices.Equal(got.Verify.CalibrationSeeds, []uint64{1, 2}) || !slices.Equal(got.Train.Milestones, []float64{1, 1.5}) {
		t.Errorf("calibration seeds %v, milestones %v", got.Verify.CalibrationSeeds, got.Train.Milestones)
	}
	// --set train.epochs keeps the milestones (they are in epochs, so they may then lie past
	// the end); the same spec loaded without overrides is unchanged.
	kept, err := LoadSpecWith(base, Overrides{Set: []string{"train.epochs=4"}})
	if err != nil {
		t.Fatal(err)
	}
	orig, err := LoadSpec(base)
	if err != nil {
		t.Fatal(err)
	}
	if kept.Train.Epochs != 4 || !slices.Equal(kept.Train.Milestones, []float64{100, 150}) || orig.Train.Epochs != 200 {
		t.Errorf("epochs %d milestones %v (original epochs %d)", kept.Train.Epochs, kept.Train.Milestones, orig.Train.Epochs)
	}
	// A bare word is a string.
	ds, err := LoadSpecWith(base, Overrides{Set: []string{"dataset=synthetic:n=32,test=8,dim=4,classes=2,seed=2"}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Dataset != "synthetic:n=32,test=8,dim=4,classes=2,seed=2" {
		t.Errorf("dataset %q", ds.Dataset)
	}
}

func TestOverridesRejectBadInput(t *testing.T) {
	base := writeSpec(t, t.TempDir(), "base.toml", overrideBase)
	for name, tc := range map[string]struct {
		o    Overrides
		want string
	}{
		"one seed":          {Overrides{Seeds: 1}, "want >= 2"},
		"negative epochs":   {Overrides{Epochs: -1}, "--epochs"},
		"zero T'":           {Overrides{ForgedSteps: []int{0}}, "--forged-steps 0"},
		"unknown key":       {Overrides{Set: []string{"train.epoch=3"}}, "train.epoch"},
		"no value":          {Overrides{Set: []string{"train.epochs"}}, "KEY=VALUE"},
		"not TOML":          {Overrides{Set: []string{"seeds=[1, 2"}}, "not a TOML value"},
		"wrong type":        {Overrides{Set: []string{"train.epochs=\"two\""}}, "epochs"},
		"set twice":         {Overrides{Epochs: 3, Set: []string{"train.epochs=4"}}, "set twice"},
		"no attack takes":   {Overrides{Set: []string{"attack.bogus=3"}}, "no attack"},
		"unknown selector":  {Overrides{Set: []string{"attack.zhang-I.steps=[3]"}}, "no attack"},
		"attack bad value":  {Overrides{Set: []string{"attack.zhang.lambda=\"x\""}}, "lambda"},
		"attack kind":       {Overrides{Set: []string{"attack.kind=\"zhang\""}}, "kind cannot"},
		"extends":           {Overrides{Set: []string{"extends=demo"}}, "extends"},
		"invalid result":    {Overrides{Set: []string{"verify.q=[-1]"}}, "verify.q"},
		"calibration seeds": {Overrides{Set: []string{"seeds=[4, 5]", "verify.calibration_seeds=[1, 2]"}}, "calibration_seeds"},
	} {
		_, err := LoadSpecWith(base, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestOverridesArgs(t *testing.T) {
	o := Overrides{Epochs: 2, Seeds: 3, ForgedSteps: []int{10, 20}, Set: []string{"verify.q=[1]", "attack.k=5"}}
	want := []string{"--epochs", "2", "--seeds", "3", "--forged-steps", "10,20", "--set", "verify.q=[1]", "--set", "attack.k=5"}
	if got := o.Args(); !slices.Equal(got, want) {
		t.Errorf("Args %q, want %q", got, want)
	}
	if !(Overrides{}).Empty() || o.Empty() {
		t.Error("Empty wrong")
	}
}
