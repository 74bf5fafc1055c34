// Package pynumpy finds the Debian Python with numpy (/usr/bin/python3, python3-numpy) and,
// for the PyTorch interop tests, torch (python3-torch) for tests that check pollab against an
// independent implementation, and skips them with a one-line reason where it is missing.
package pynumpy

import (
	"os/exec"
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
