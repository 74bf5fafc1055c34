// Package filetest reads directory trees for tests that compare what two runs wrote (a proof,
// a results directory). It imports nothing of pollab, so the tests of every package, the
// lowest included, can use it; it is imported only by _test.go files.
package filetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Files lists every regular file under dir: relative, slash-separated paths in lexical order.
func Files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ReadTree maps every file under dir (Files) to its bytes.
func ReadTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	return Read(t, dir, Files(t, dir)...)
}

// Read maps each named file of dir (a slash-separated relative path) to its bytes.
func Read(t testing.TB, dir string, names ...string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}
