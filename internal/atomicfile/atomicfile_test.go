package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileModeContentAndReplace(t *testing.T) {
	old := Mode
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "a.json")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read back %q, %v; want %q", b, err, content)
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != old {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), old)
		}
	}
	assertOnly(t, filepath.Join(dir, "sub"), "a.json")
}

// failingFile accepts limit bytes and then fails like a full disk.
type failingFile struct {
	*os.File
	limit int
}

func (f *failingFile) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n, _ := f.File.Write(p[:f.limit])
		return n, errors.New("simulated: no space left on device")
	}
	f.limit -= len(p)
	return f.File.Write(p)
}

func TestFailedWriteLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	w := Writer{CreateTemp: func(dir, pattern string) (File, error) {
		f, err := os.CreateTemp(dir, pattern)
		return &failingFile{File: f, limit: 3}, err
	}}
	err := w.Write(path, func(out io.Writer) error { _, err := out.Write([]byte("new content")); return err })
	if err == nil {
		t.Fatal("a write to a full disk succeeded")
	}
	fillErr := errors.New("fill failed")
	if err := Write(path, func(io.Writer) error { return fillErr }); !errors.Is(err, fillErr) {
		t.Fatalf("fill error %v, want %v", err, fillErr)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after failed writes the file holds %q, want the old content", b)
	}
	assertOnly(t, dir, "a")
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.json")
	if err := WriteJSON(path, map[string]int{"b": 2, "a": 1}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "{\n  \"a\": 1,\n  \"b\": 2\n}\n" {
		t.Errorf("got %q", b)
	}
	if err := WriteJSON(path, func() {}); err == nil {
		t.Error("a value JSON cannot encode was written")
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(names) {
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		t.Fatalf("%s holds %v, want only %v (temporary files left behind?)", dir, got, names)
	}
}
