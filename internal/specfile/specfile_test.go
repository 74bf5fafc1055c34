package specfile

import (
	"errors"
	"testing"
	"testing/fstest"
)

// The spec hash is the SHA-256 of the JSON with sorted map keys; the golden is Python's
// hashlib.sha256(b'{"a":2,"b":[1,3]}').hexdigest().
func TestHashIsSHA256OfSortedJSON(t *testing.T) {
	const want = "b8c92b53b866de95f2e39ed076286baf8eddd3c3eb82ce3d062b0973bb91489c"
	if got := Hash(map[string]any{"b": []int{1, 3}, "a": 2}); got != want {
		t.Errorf("Hash = %s, want %s", got, want)
	}
}

func TestUniqueSeeds(t *testing.T) {
	if err := UniqueSeeds([]uint64{4, 1, 2}); err != nil {
		t.Errorf("distinct seeds: %v", err)
	}
	if err := UniqueSeeds([]uint64{4, 1, 2, 1, 4}); err == nil || err.Error() != "seeds: 1 listed twice" {
		t.Errorf("repeated seeds: error %v", err)
	}
}

// Load parses the embedded spec (the file does not exist) and prefixes a parse error with the
// name it was given.
func TestLoadEmbeddedAndPrefixedError(t *testing.T) {
	fsys := fstest.MapFS{"specs/one.toml": {Data: []byte("x = 1\n")}}
	got, err := Load(fsys, "specs", "no/such/dir/one.toml", false, func(raw []byte, embedded bool) (string, error) {
		if !embedded {
			return "", errors.New("read from disk")
		}
		return string(raw), nil
	})
	if err != nil || got != "x = 1\n" {
		t.Fatalf("Load = %q, %v", got, err)
	}
	_, err = Load(fsys, "specs", "one", true, func([]byte, bool) (int, error) { return 0, errors.New("bad") })
	if err == nil || err.Error() != "spec one: bad" {
		t.Errorf("parse error: %v", err)
	}
}
