// Package specfile reads the lab's TOML inputs (experiment and Gauntlet specs, task files):
// a spec named by file path or, failing that, by the name of a spec embedded in the binary,
// and strict decoding, where a key the target does not take is an error. It imports nothing
// of pollab.
package specfile

import (
	"bytes"
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
