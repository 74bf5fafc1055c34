package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/internal/cifartest"
)

// CIFAR-10 data problems through the real binary: no $POLLAB_CIFAR_DIR (the message names the
// variable), and each bad directory (missing file, truncated record, wrong record size) is one
// line naming the file, exit 2, for train and for the paper-cifar sweep, with nothing written.
func TestCIFARDataErrors(t *testing.T) {
	bin := pollabBinary(t)
	s := newSandbox(t, bin)
	train := func(out string) []string {
		return []string{"train", "--model", "mlp:3072-4-10:relu", "--dataset", "cifar10", "--epochs", "1", "--batch", "2", "--k", "2", "--out", out}
	}
	sweep := func(out string) []string { return []string{"sweep", "paper-cifar", "--out", out, "--quiet"} }
	for _, cmd := range []func(string) []string{train, sweep} {
		out := filepath.Join(t.TempDir(), "out")
		s.env = []string{"POLLAB_CIFAR_DIR="}
		args := cmd(out)
		if msg := checkOneLine(t, args, s.run(args...), exitBadInput); !strings.Contains(msg, "set $POLLAB_CIFAR_DIR") {
			t.Errorf("%v without data: %q does not name the variable", args[:2], msg)
		}
		for _, kind := range cifartest.Bad {
			dir := t.TempDir()
			file := cifartest.WriteBad(t, dir, kind, 3, 2)
			s.env = []string{"POLLAB_CIFAR_DIR=" + dir}
			msg := checkOneLine(t, args, s.run(args...), exitBadInput)
			if !strings.Contains(msg, filepath.Join(dir, file)) {
				t.Errorf("%v, %s: %q does not name %s", args[:2], kind, msg, file)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%v, %s: created %s", args[:2], kind, out)
			}
		}
	}
}
