package data

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarRecord builds one record: labels then 3072 pixels derived from seed.
func cifarRecord(labels []byte, seed int) []byte {
	rec := append([]byte(nil), labels...)
	for p := range cifarPixels {
		rec = append(rec, byte(p*7+seed*31))
	}
	return rec
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// cifar10Fixture writes five training batches of two records and a test batch of three.
func cifar10Fixture(t *testing.T, dir string) {
	t.Helper()
	for b := 1; b <= 5; b++ {
		var f []byte
		for r := range 2 {
			i := (b-1)*2 + r
			f = append(f, cifarRecord([]byte{byte(i % 10)}, i)...)
		}
		writeFile(t, filepath.Join(dir, "data_batch_"+string(rune('0'+b))+".bin"), f)
	}
	var f []byte
	for r := range 3 {
		f = append(f, cifarRecord([]byte{byte(9 - r)}, 100+r)...)
	}
	writeFile(t, filepath.Join(dir, "test_batch.bin"), f)
}

func TestLoadCIFAR10Fixture(t *testing.T) {
	root := t.TempDir()
	cifar10Fixture(t, filepath.Join(root, "cifar-10-batches-bin")) // the tarball's layout
	t.Setenv("POLLAB_CIFAR_DIR", root)
	train, err := Load("cifar10", Train)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 10 || train.Dim() != 3072 || train.Classes != 10 || train.Name != "cifar10" ||
		len(train.Shape) != 3 || train.Shape[0] != 3 || train.Shape[1] != 32 || train.Shape[2] != 32 {
		t.Fatalf("train: len %d shape %v classes %d name %q", train.Len(), train.Shape, train.Classes, train.Name)
	}
	for i := range 10 {
		want := cifarRecord([]byte{byte(i % 10)}, i)
		if train.Label(i) != i%10 || string(train.Raw(i)) != string(want[1:]) {
			t.Errorf("train point %d: label %d or pixels wrong", i, train.Label(i))
		}
	}
	test, err := Load("cifar10", Test)
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 3 || test.Label(0) != 9 || test.Label(2) != 7 {
		t.Errorf("test: len %d labels %d %d", test.Len(), test.Label(0), test.Label(2))
	}
	x := make([]float64, 3072)
	test.Features(1, x)
	if want := float64(byte((1*7+101*31)%256)) / 255; x[1] != want {
		t.Errorf("feature 1 = %v, want %v", x[1], want)
	}
}

func TestLoadCIFAR100Fixture(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "train.bin"), append(cifarRecord([]byte{3, 57}, 1), cifarRecord([]byte{19, 99}, 2)...))
	writeFile(t, filepath.Join(dir, "test.bin"), cifarRecord([]byte{0, 0}, 3))
	t.Setenv("POLLAB_CIFAR_DIR", "")
	t.Setenv("POLLAB_CIFAR100_DIR", dir)
	train, err := Load("cifar100", Train)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 2 || train.Classes != 100 || train.Label(0) != 57 || train.Label(1) != 99 || train.PointBytes() != 3072 {
		t.Errorf("cifar100 train: len %d classes %d labels %d %d", train.Len(), train.Classes, train.Label(0), train.Label(1))
	}
	if string(train.Raw(1)) != string(cifarRecord(nil, 2)) {
		t.Error("cifar100 pixels wrong (coarse and fine label bytes not skipped?)")
	}
}

func TestCIFARBadFiles(t *testing.T) {
	for name, tc := range map[string]struct {
		base, file string
		content    []byte
		want       string
	}{
		"partial record":   {"cifar10", "test_batch.bin", append(cifarRecord([]byte{1}, 0), 5), "3073-byte records"},
		"empty":            {"cifar10", "test_batch.bin", nil, "3073-byte records"},
		"cifar100 as 10":   {"cifar100", "test.bin", cifarRecord([]byte{1}, 0), "3074-byte records"},
		"label range":      {"cifar10", "test_batch.bin", cifarRecord([]byte{10}, 0), "label 10"},
		"fine label range": {"cifar100", "test.bin", cifarRecord([]byte{1, 100}, 0), "label 100"},
		"coarse range":     {"cifar100", "test.bin", cifarRecord([]byte{20, 1}, 0), "coarse label 20"},
	} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, tc.file), tc.content)
		_, err := loadCIFAR(tc.base, dir, Test)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming the file and %q", name, err, tc.want)
		}
		if strings.Contains(tc.want, "records") && !errors.Is(err, errBadRecords) {
			t.Errorf("%s: error does not wrap errBadRecords", name)
		}
	}
	// A missing training batch is named.
	dir := t.TempDir()
	cifar10Fixture(t, dir)
	if err := os.Remove(filepath.Join(dir, "data_batch_3.bin")); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCIFAR("cifar10", dir, Train); err == nil || !strings.Contains(err.Error(), "data_batch_3.bin") {
		t.Errorf("missing batch: error %v", err)
	}
	// No directory configured, or one without the files.
	t.Setenv("POLLAB_CIFAR_DIR", "")
	t.Setenv("POLLAB_CIFAR100_DIR", "")
	if _, err := Load("cifar10", Train); err == nil || !strings.Contains(err.Error(), "POLLAB_CIFAR_DIR") {
		t.Errorf("unset dir: error %v", err)
	}
	t.Setenv("POLLAB_CIFAR100_DIR", t.TempDir())
	if _, err := Load("cifar100", Test); err == nil || !strings.Contains(err.Error(), "test.bin") {
		t.Errorf("empty dir: error %v", err)
	}
}
