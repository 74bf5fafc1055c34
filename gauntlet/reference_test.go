package gauntlet

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/data"
)

const referenceDir = "../results/gauntlet-reference"

// TestReferenceConsistent reruns the first two windows of seed 1 of the committed reference
// run (the embedded gauntlet spec on MNIST; a window depends only on the windows before it)
// and requires the committed peers.csv and global.csv to hold exactly those rows.
func TestReferenceConsistent(t *testing.T) {
	if testing.Short() {
		t.Skip("two MNIST windows of every scenario")
	}
	if _, err := data.Load("mnist", data.Train); err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	s, err := LoadSpec("gauntlet")
	if err != nil {
		t.Fatal(err)
	}
	s.Seeds, s.Windows = []uint64{1}, 2
	out := t.TempDir()
	if _, err := run(t, s, out, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"peers.csv", "global.csv"} {
		fresh, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join(referenceDir, f))
		if err != nil {
			t.Fatalf("committed reference: %v", err)
		}
		var want [][]byte
		for i, line := range bytes.Split(bytes.TrimSpace(committed), []byte("\n")) {
			fields := strings.SplitN(string(line), ",", 4)
			if i == 0 || (fields[1] == "1" && (fields[2] == "0" || fields[2] == "1")) {
				want = append(want, line)
			}
		}
		got := bytes.Split(bytes.TrimSpace(fresh), []byte("\n"))
		if len(got) != len(want) || len(got) < 2 {
			t.Fatalf("%s: %d fresh rows, %d committed rows of seed 1 windows 0-1", f, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s row %d:\nfresh     %s\ncommitted %s\n(regenerate: pollab gauntlet --out results/gauntlet-reference)", f, i, got[i], want[i])
			}
		}
	}
}
