// Package specfile reads the lab's TOML inputs (experiment and Gauntlet specs, task files):
// a spec named by file path or, failing that, by the name of a spec embedded in the binary,
// strict decoding, where a key the target does not take is an error, the checks every spec
// shares (seeds listed once) and the spec hash. It imports nothing of pollab.
package specfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Names lists the specs embedded in fsys under dir (dir/NAME.toml), by NAME, sorted.
func Names(fsys fs.FS, dir string) []string {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".toml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Read returns the bytes of the spec file nameOrPath or, when there is no such regular file
// (or embeddedOnly: the name comes from an embedded spec, which must not depend on the
// working directory), of the spec embedded in fsys as dir/NAME.toml, NAME being nameOrPath's
// base name without ".toml"; embedded says which it read.
func Read(fsys fs.FS, dir, nameOrPath string, embeddedOnly bool) (raw []byte, embedded bool, err error) {
	if !embeddedOnly {
		if fi, err := os.Stat(nameOrPath); err == nil && !fi.IsDir() {
			raw, err := os.ReadFile(nameOrPath)
			if err != nil {
				return nil, false, fmt.Errorf("spec %s: %w", nameOrPath, err)
			}
			return raw, false, nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("spec %s: %w", nameOrPath, err)
		}
	}
	name := strings.TrimSuffix(path.Base(nameOrPath), ".toml")
	raw, err = fs.ReadFile(fsys, dir+"/"+name+".toml")
	if err != nil {
		return nil, false, fmt.Errorf("spec %q: no such file and no embedded spec of that name (embedded: %s)",
			nameOrPath, strings.Join(Names(fsys, dir), ", "))
	}
	return raw, true, nil
}

// Load reads the spec nameOrPath (Read) and parses its bytes with parse, which is told
// whether they came from the embedded spec; a parse error is prefixed "spec NAMEORPATH: ".
func Load[T any](fsys fs.FS, dir, nameOrPath string, embeddedOnly bool, parse func(raw []byte, embedded bool) (T, error)) (T, error) {
	var zero T
	raw, embedded, err := Read(fsys, dir, nameOrPath, embeddedOnly)
	if err != nil {
		return zero, err
	}
	s, err := parse(raw, embedded)
	if err != nil {
		return zero, fmt.Errorf("spec %s: %w", nameOrPath, err)
	}
	return s, nil
}

// Decode decodes the TOML raw into v: a syntax or type error is "parse TOML: ...", and every
// key v does not take is an error ("unknown keys: a, b"), but those that keep accepts (nested
// tables a caller decodes itself, strictly).
func Decode(raw []byte, v any, keep func(toml.Key) bool) (toml.MetaData, error) {
	md, err := toml.NewDecoder(bytes.NewReader(raw)).Decode(v)
	if err != nil {
		return md, fmt.Errorf("parse TOML: %w", err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if keep == nil || !keep(k) {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return md, fmt.Errorf("unknown keys: %s", strings.Join(unknown, ", "))
	}
	return md, nil
}

// UniqueSeeds reports the first seed listed twice ("seeds: 3 listed twice"), nil when none is.
func UniqueSeeds(seeds []uint64) error {
	seen := map[uint64]bool{}
	for _, sd := range seeds {
		if seen[sd] {
			return fmt.Errorf("seeds: %d listed twice", sd)
		}
		seen[sd] = true
	}
	return nil
}

// Hash is the hex SHA-256 of v's JSON encoding (encoding/json sorts map keys, so equal values
// hash equally): the spec hash provenance.json records, and any key derived the same way. v
// must be plain data; a value JSON cannot encode is a programming error and panics.
func Hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("specfile: hash %T: %v", v, err))
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
