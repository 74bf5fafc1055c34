package proof

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManifestJSONStructure: the token pass in front of json.Unmarshal refuses keys given
// twice in one object (also when they differ only in case or escaping, since encoding/json
// would match them to the same field), nesting beyond maxManifestDepth and trailing data,
// and accepts what the writer produces and keys repeated across different objects.
func TestManifestJSONStructure(t *testing.T) {
	dir, _ := fuzzProof(t)
	honest, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeManifest(honest); err != nil {
		t.Fatalf("honest manifest refused: %v", err)
	}
	insert := func(field string) []byte { // field added as the object's first key
		return bytes.Replace(honest, []byte("{"), []byte("{"+field+","), 1)
	}
	padTo := func(size int) []byte { // the honest manifest grown to size bytes by a long string
		short := insert(`"x": ""`)
		return insert(`"x": "` + strings.Repeat("a", size-len(short)) + `"`)
	}
	if n := len(padTo(MaxManifestBytes)); n != MaxManifestBytes {
		t.Fatalf("padded manifest has %d bytes, want %d", n, MaxManifestBytes)
	}
	for _, c := range []struct {
		name string
		raw  []byte
		want string // "" = accepted
	}{
		{"duplicate top-level key", insert(`"batch": 1`), `duplicate key "batch"`},
		{"duplicate differing in case", insert(`"BATCH": 1`), `duplicate key "batch"`},
		{"duplicate spelled with an escape", insert(`"b\u0061tch": 1`), `duplicate key "batch"`},
		{"duplicate in a checkpoint entry", bytes.Replace(honest, []byte(`"step": 0,`), []byte(`"step": 0, "step": 4,`), 1), `duplicate key "step"`},
		{"duplicate in a nested object", bytes.Replace(honest, []byte(`"optimizer": {`), []byte(`"optimizer": {"lr": 5,`), 1), `duplicate key "lr"`},
		{"duplicate in an unknown object", insert(`"x": {"a": 1, "a": 2}`), `duplicate key "a"`},
		{"duplicate objects in an array are fine", insert(`"x": [{"a": 1}, {"a": 2}]`), ""},
		{"a value equal to a key is fine", insert(`"x": {"a": "a", "b": "a", "c": ["a", "a"]}`), ""},
		{"depth at the limit", insert(`"x": ` + strings.Repeat("[", maxManifestDepth-1) + strings.Repeat("]", maxManifestDepth-1)), ""},
		{"depth over the limit", insert(`"x": ` + strings.Repeat("[", maxManifestDepth) + strings.Repeat("]", maxManifestDepth)), "nested deeper than 32"},
		{"nesting 100000 deep", insert(`"x": ` + strings.Repeat(`{"a":`, 100_000)), "nested deeper than 32"},
		{"data after the object", append(append([]byte(nil), honest...), `{}`...), "data after the manifest object"},
		{"garbage after the object", append(append([]byte(nil), honest...), `x`...), "data after the manifest object"},
		{"empty", nil, "empty manifest"},
		{"truncated", honest[:len(honest)/2], "unexpected EOF"},
		{"cut after a key", []byte(`{"format":`), "unexpected EOF"},
		{"missing colon", []byte(`{"format" "x"}`), "manifest JSON"},
		{"exactly at the cap", padTo(MaxManifestBytes), ""},
		{"one byte over the cap", padTo(MaxManifestBytes + 1), "exceeds 16777216 bytes"},
	} {
		_, err := DecodeManifest(bytes.NewReader(c.raw))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: accepted", c.name)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: error %q, want %q", c.name, err, c.want)
		}
	}
}
