// Package pynumpy finds the Debian Python with numpy (/usr/bin/python3, python3-numpy) for
// tests that check pollab against an independent numpy implementation, and skips them with
// a one-line reason where it is missing.
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
	if out, err := exec.Command(Python, "-c", "import numpy").CombinedOutput(); err != nil {
		t.Skipf("needs %s with numpy (apt-get install python3-numpy): %v %s", Python, err, firstLine(out))
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
