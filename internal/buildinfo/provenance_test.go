package buildinfo_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"pollab/experiments"
	"pollab/gauntlet"
	"pollab/internal/buildinfo"
)

// topKeys is the keys of the JSON object b, in order.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
	}
	return keys
}

// TestCommittedProvenanceFields: the committed provenance.json files of spec runs
// (experiments.Provenance) and of the gauntlet (gauntlet.Provenance) decode into the
// structs that embed Header and Span and encode back with the same fields in the same order
// and the same header and span.
func TestCommittedProvenanceFields(t *testing.T) {
	for dir, p := range map[string]any{
		"reference": &experiments.Provenance{}, "paper-reference": &experiments.Provenance{},
		"fig4-reference": &experiments.Provenance{}, "gauntlet-reference": &gauntlet.Provenance{},
	} {
		path := filepath.Join("..", "..", "results", dir, "provenance.json")
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, p); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := topKeys(t, got), topKeys(t, want); !slices.Equal(g, w) {
			t.Errorf("%s: fields %q, committed %q", path, g, w)
		}
		var gh, wh struct {
			buildinfo.Header
			buildinfo.Span
		}
		if json.Unmarshal(got, &gh) != nil || json.Unmarshal(want, &wh) != nil || !equal(gh.Header, wh.Header) || gh.Span != wh.Span {
			t.Errorf("%s: header and span %+v, committed %+v", path, gh, wh)
		}
		if wh.Pollab == "" || wh.GoVersion == "" || wh.Start.IsZero() || wh.Machine.GOOS == "" {
			t.Errorf("%s: committed header and span %+v: want version, Go, start and machine", path, wh)
		}
	}
}

func equal(a, b buildinfo.Header) bool {
	return a.Version == b.Version && a.GoVersion == b.GoVersion && slices.Equal(a.Command, b.Command)
}
