package data

import (
	"path/filepath"
	"strings"
	"testing"

	"pollab/internal/cifartest"
)

// A subset is the files' first points under a canonical name that reloads it.
func TestSubsetIsAPrefix(t *testing.T) {
	dir := t.TempDir()
	cifartest.Write(t, filepath.Join(dir, "cifar-10-batches-bin"), 4, 6)
	t.Setenv("POLLAB_CIFAR_DIR", dir)
	full, err := Load("cifar10", Train)
	if err != nil {
		t.Fatal(err)
	}
	fullTest, err := Load("cifar10", Test)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, canonical string
		n, test         int
	}{
		{"cifar10:n=7", "cifar10:n=7", 7, 6},
		{"cifar10:test=2,n=5", "cifar10:n=5,test=2", 5, 2},
		{"cifar10:test=3", "cifar10:test=3", 20, 3},
	} {
		tr, err := Load(tc.name, Train)
		if err != nil {
			t.Fatal(err)
		}
		te, err := Load(tc.name, Test)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Name != tc.canonical || te.Name != tc.canonical || tr.Len() != tc.n || te.Len() != tc.test {
			t.Errorf("%s: names %q %q, sizes %d %d; want %q, %d %d", tc.name, tr.Name, te.Name, tr.Len(), te.Len(), tc.canonical, tc.n, tc.test)
			continue
		}
		for i := range tr.Len() {
			if tr.PointHash(i) != full.PointHash(i) {
				t.Errorf("%s: training point %d is not the file's point %d", tc.name, i, i)
			}
		}
		if te.PointHash(te.Len()-1) != fullTest.PointHash(te.Len()-1) {
			t.Errorf("%s: test points differ", tc.name)
		}
		if tr.Fingerprint() == full.Fingerprint() {
			t.Errorf("%s: the subset has the full set's fingerprint", tc.name)
		}
		again, err := Load(tr.Name, Train)
		if err != nil || again.Fingerprint() != tr.Fingerprint() {
			t.Errorf("%s: the canonical name does not reload the subset: %v", tc.name, err)
		}
	}
	for name, want := range map[string]string{
		"cifar10:n=21":        "21 train points asked",
		"cifar10:n=0":         "positive integer",
		"cifar10:n=x":         "positive integer",
		"cifar10:seed=1":      "takes n=N and test=M",
		"cifar10:n=2,n=3":     "given twice",
		"fashion-mnist:dim=3": "takes n=N and test=M",
	} {
		if _, err := Load(name, Train); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
	}
}
