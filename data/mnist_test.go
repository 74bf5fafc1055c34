package data

import (
	"os"
	"strings"
	"testing"
)

func TestLoadMNIST(t *testing.T) {
	for _, tc := range []struct {
		split     Split
		n, label0 int
	}{{Train, 60000, 5}, {Test, 10000, 7}} {
		d, err := Load("mnist", tc.split)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != tc.n || d.Label(0) != tc.label0 {
			t.Errorf("mnist %v: %d points, first label %d; want %d, %d", tc.split, d.Len(), d.Label(0), tc.n, tc.label0)
		}
		if d.Dim() != 784 || d.Classes != 10 || d.Name != "mnist" {
			t.Errorf("mnist %v: dim %d classes %d name %q", tc.split, d.Dim(), d.Classes, d.Name)
		}
	}
}

func TestLoadFashionMNIST(t *testing.T) {
	t.Setenv("POLLAB_FASHION_DIR", t.TempDir())
	if _, err := Load("fashion-mnist", Train); err == nil || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") {
		t.Errorf("missing files: error %v should name the Debian package", err)
	}
	t.Setenv("POLLAB_FASHION_DIR", "")
	if _, err := os.Stat(fashionDefaultDir); err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	for _, tc := range []struct {
		split Split
		n     int
	}{{Train, 60000}, {Test, 10000}} {
		d, err := Load("fashion-mnist", tc.split)
		if err != nil {
			t.Fatal(err)
		}
		// Both splits of Fashion-MNIST start with an ankle boot (class 9).
		if d.Len() != tc.n || d.Label(0) != 9 || d.Dim() != 784 || d.Name != "fashion-mnist" {
			t.Errorf("fashion-mnist %v: %d points, first label %d, dim %d", tc.split, d.Len(), d.Label(0), d.Dim())
		}
	}
}

func TestLoadCachedAndShared(t *testing.T) {
	a, err := Load("mnist", Test)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("mnist", Test)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("second Load parsed MNIST again instead of sharing the cached dataset")
	}
	mnist, _ := Load("mnist", Train)
	if mnist.Fingerprint() == a.Fingerprint() {
		t.Error("train and test fingerprints agree")
	}
}

func BenchmarkLoadMNISTTrainUncached(b *testing.B) {
	dir, err := mnistFamilyDir("mnist")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := loadMNISTFamily("mnist", dir, Train); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFingerprintMNISTTrain(b *testing.B) {
	d, err := Load("mnist", Train)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		fresh, _ := NewDataset(d.Name, d.Shape, d.Classes, d.Enc, d.raw, d.labels)
		fresh.Fingerprint()
	}
}
