package models

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestInitNormalGolden: models.Init's kaiming-normal draws (conv and linear weights of
// resnet:8:3x8x8, seed 7) are the bits an independent Python implementation computed from
// the documented recipe (per-tensor PCG from SHA-256(seed, "pollab/models.Init/", name),
// the polar method, std = √(2/fan_in)): scripts/normal_golden.py init, standard library only.
// The cross-architecture test runs it on arm64 and with -tags purego too.
func TestInitNormalGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "init_normal_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	type value struct{ Bits, Value string }
	var g struct {
		Model   string
		Seed    uint64
		Tensors []struct {
			Name  string
			Std   value
			First []value
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	m, err := Parse(g.Model)
	if err != nil {
		t.Fatal(err)
	}
	w, off, ts := Init(m, g.Seed), Offsets(m), m.Tensors()
	float := func(v value) float64 {
		u, err := strconv.ParseUint(v.Bits, 16, 64)
		if err != nil {
			t.Fatalf("golden bits %q: %v", v.Bits, err)
		}
		return math.Float64frombits(u)
	}
	found := 0
	for i, tn := range ts {
		for _, gt := range g.Tensors {
			if gt.Name != tn.Name {
				continue
			}
			found++
			if tn.Law.Kind != Normal || tn.Law.Std != float(gt.Std) {
				t.Errorf("%s: law %+v, golden N(0, %s²)", tn.Name, tn.Law, gt.Std.Value)
			}
			for j, want := range gt.First {
				if got := w[off[i]+j]; math.Float64bits(got) != math.Float64bits(float(want)) {
					t.Errorf("%s[%d] = %v, golden %s", tn.Name, j, got, want.Value)
				}
			}
		}
	}
	if found != len(g.Tensors) || found == 0 {
		t.Errorf("%d of the golden's %d tensors are in %s", found, len(g.Tensors), g.Model)
	}
}
