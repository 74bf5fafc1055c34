package experiments

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/stats"
)

func TestEmbeddedSpecsParse(t *testing.T) {
	names := EmbeddedNames()
	for _, want := range []string{"demo", "paper", "fig1", "fig2", "fig3", "fig4", "fig5", "fig6"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("embedded spec %q missing (have %v)", want, names)
		}
	}
	for _, n := range names {
		s, err := LoadSpec(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if s.Name != n {
			t.Errorf("spec %s is named %q: results would land in the wrong directory", n, s.Name)
		}
		for _, m := range s.Verify.Metrics {
			found := false
			for _, d := range s.Verify.AbsoluteDelta[m] {
				ref, _ := stats.ReferenceDelta.Get(m)
				found = found || d == ref
			}
			if !found {
				t.Errorf("%s: the reference threshold of %s is not on the grid", n, m)
			}
		}
	}
}

func TestSpecRejectsBadInput(t *testing.T) {
	good := `name = "x"
models = ["mlp:4-3-2:relu"]
dataset = "synthetic:n=64,test=16,dim=4,classes=2,seed=1"
seeds = [1, 2]
[train]
epochs = 1
batch = 8
lr = 0.1
k = [2]
[verify]
envs = ["exact"]
`
	if _, err := ParseSpec([]byte(good)); err != nil {
		t.Fatalf("good spec rejected: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown key":     good + "bogus = 1\n",
		"no seeds":        strings.Replace(good, "seeds = [1, 2]", "seeds = []", 1),
		"duplicate seed":  strings.Replace(good, "seeds = [1, 2]", "seeds = [1, 1]", 1),
		"bad metric":      good + `metrics = ["l3"]` + "\n",
		"negative q":      good + "q = [-1]\n",
		"bad attack":      good + "[[attack]]\nkind = \"zhang\"\nvariant = \"IV\"\n",
		"unknown attack":  good + "[[attack]]\nkind = \"magic\"\n",
		"bad dtype":       strings.Replace(good, `name = "x"`, "name = \"x\"\ndtype = \"f16\"", 1),
		"zero k":          strings.Replace(good, "k = [2]", "k = [0]", 1),
		"name with slash": strings.Replace(good, `name = "x"`, `name = "a/b"`, 1),
		"not TOML":        "name = \n",
	} {
		if _, err := ParseSpec([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSpecExtends(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "child.toml")
	child := "extends = \"demo\"\nname = \"child\"\nseeds = [5, 6]\n[verify]\nq = [3]\n"
	if err := os.WriteFile(file, []byte(child), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSpec(file)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := LoadSpec("demo")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "child" || len(s.Seeds) != 2 || s.Seeds[0] != 5 || s.Verify.Q[0] != 3 {
		t.Fatalf("overlay not applied: %+v", s)
	}
	if s.Dataset != demo.Dataset || len(s.Attacks) != len(demo.Attacks) || len(s.Verify.Envs) != len(demo.Verify.Envs) {
		t.Fatal("base values not inherited")
	}
	if s.Hash() == demo.Hash() {
		t.Fatal("different specs hash equally")
	}
	loop := filepath.Join(dir, "loop.toml")
	if err := os.WriteFile(loop, []byte("extends = \""+loop+"\"\nname = \"loop\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSpec(loop); err == nil {
		t.Fatal("an extends cycle was accepted")
	}
}

// A spec's JSON (what provenance.json and the spec hash record) reads back into the same spec.
func TestSpecJSONRoundTrip(t *testing.T) {
	for _, name := range EmbeddedNames() {
		s, err := LoadSpec(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Spec
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if back.Hash() != s.Hash() || len(back.Attacks) != len(s.Attacks) {
			t.Errorf("%s: JSON round trip changed the spec (hash %s, want %s)", name, back.Hash(), s.Hash())
		}
	}
}

// An embedded spec's extends names an embedded spec whatever the working directory holds
// (fig4 extends paper: a file or folder called "paper" in the cwd must not change it), and a
// folder named like a spec is not a spec file.
func TestEmbeddedExtendsIgnoresWorkingDirectory(t *testing.T) {
	want, err := LoadSpec("fig4")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "paper"), []byte("name = \"impostor\"\nseeds = [7, 8]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	got, err := LoadSpec("fig4")
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != want.Hash() {
		t.Fatal("fig4 read the working directory's paper file as its base")
	}
	if _, err := LoadSpec("demo"); err != nil {
		t.Fatalf("a folder named demo hid the embedded spec: %v", err)
	}
}
