package experiments

import (
	"maps"
	"slices"
	"strconv"
	"testing"

	"pollab/internal/bntest"
)

// A run with a model with buffers (BatchNorm) reports the re-executed running statistics in
// the extra column max_repro_buffers_l2 (honest proofs in env exact: 0, bit-exact); the columns
// of a run without buffers are unchanged (the demo's byte-identical reference test).
func TestBuffersColumn(t *testing.T) {
	spec := tinyWith(t, `
name = "tiny-bn"
models = ["`+bntest.Spec+`"]
dataset = "`+bntest.Dataset+`"
[train]
batch = 8
[[attack]]
kind = "infinitesimal"
delta = [0.008]
`)
	rows := runRows(t, spec, t.TempDir())
	kinds := map[string]bool{}
	for _, r := range rows {
		v, ok := r.Extra[BuffersColumn]
		if !ok {
			t.Fatalf("row %+v lacks %s", r, BuffersColumn)
		}
		if v == "" {
			continue // no interval checked at this point
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == KindHonest && r.Env == "exact" && x != 0 {
			t.Errorf("honest proof in env exact: running statistics replayed to l2 %g, want 0", x)
		}
		kinds[r.Kind] = true
	}
	if !kinds[KindHonest] || !kinds[KindInfinitesimal] {
		t.Errorf("kinds with a buffer distance: %v", slices.Sorted(maps.Keys(kinds)))
	}
}
