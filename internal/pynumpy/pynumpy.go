// Package pynumpy finds the Debian Python with numpy (/usr/bin/python3, python3-numpy) and,
// for the PyTorch interop tests, torch (python3-torch) for tests that check pollab against an
// independent implementation, and skips them with a one-line reason where it is missing.
package pynumpy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Python is the interpreter the tests use: Debian's, which sees python3-numpy (a python3
// earlier on PATH may be another installation without it).
const Python = "/usr/bin/python3"

// Require returns Python when it runs and imports numpy, and skips t otherwise.
func Require(t testing.TB) string {
	t.Helper()
	return require(t, "numpy", "python3-numpy")
}

// RequireTorch returns Python when it runs and imports torch and numpy, and skips t otherwise.
func RequireTorch(t testing.TB) string {
	t.Helper()
	return require(t, "torch, numpy", "python3-torch python3-numpy")
}

func require(t testing.TB, modules, packages string) string {
	t.Helper()
	if out, err := exec.Command(Python, "-c", "import "+modules).CombinedOutput(); err != nil {
		t.Skipf("needs %s with %s (apt-get install %s): %v %s", Python, modules, packages, err, firstLine(out))
	}
	return Python
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

// PollabTorch returns a command running Python with the repository's python/ directory
// (pythonDir, relative to the test's package directory) on PYTHONPATH, so that it imports
// pollab_torch, and with one OpenMP thread. It first reads every .py file below pythonDir and
// sourceDirs: go test keys a package's cached result on the files the test process opens, and
// a Python subprocess's reads are invisible to it, so without this a changed Python file would
// replay a stale pass.
func PollabTorch(pythonDir string, sourceDirs []string, args ...string) *exec.Cmd {
	for _, root := range append([]string{pythonDir}, sourceDirs...) {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".py") {
				os.ReadFile(path)
			}
			return nil
		})
	}
	abs, _ := filepath.Abs(pythonDir)
	cmd := exec.Command(Python, args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+abs, "OMP_NUM_THREADS=1")
	return cmd
}
