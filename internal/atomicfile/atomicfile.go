// Package atomicfile writes files so that a reader, or a crash, sees either no file (or the
// previous one) or the whole new one: the bytes go to a temporary file in the same directory,
// which is synced, closed and renamed over the final name, and the directory is then synced so
// the rename survives a crash. Every file gets mode 0644 (proofs, evidence and results are
// meant to be read by others; os.CreateTemp alone makes 0600). Proof writer, verifier cache,
// experiment results and the CLI's evidence files all write through it.
package atomicfile

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Mode is the permission of every file written here.
const Mode fs.FileMode = 0o644

// TempPrefix starts the name of every temporary file, so a directory's leftovers of an
// interrupted write can be recognised (and removed) by name.
const TempPrefix = ".tmp-"

// File is the part of *os.File a write uses; tests substitute failing ones.
type File interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
	Chmod(fs.FileMode) error
}

// Writer writes files atomically. The zero value uses os.CreateTemp.
type Writer struct {
	// CreateTemp creates the temporary file in dir (pattern as os.CreateTemp's); nil means
	// os.CreateTemp. Tests replace it to inject write errors.
	CreateTemp func(dir, pattern string) (File, error)
}

// Create opens a temporary file beside path, with Mode, for a caller that streams into it
// over several calls and then calls Commit.
func Create(path string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(Mode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// Write creates path (and its directory) with the bytes fill writes. On any error nothing
// appears under path and the temporary file is removed.
func (w Writer) Write(path string, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	create := w.CreateTemp
	if create == nil {
		create = func(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }
	}
	f, err := create(dir, TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	err = f.Chmod(Mode)
	if err == nil {
		err = fill(f)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	return Commit(f, path)
}

// Commit finishes a temporary file: sync, close, rename over path, sync the directory. On an
// error before the rename the temporary file is removed.
func Commit(f File, path string) error {
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory so that a rename inside it survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Write is Writer{}.Write.
func Write(path string, fill func(io.Writer) error) error { return Writer{}.Write(path, fill) }

// WriteFile writes b to path atomically.
func WriteFile(path string, b []byte) error {
	return Write(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// WriteJSON writes v as indented JSON with a final newline, atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return WriteFile(path, append(b, '\n'))
}
