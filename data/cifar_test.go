package data

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/internal/cifartest"
)

func TestLoadCIFAR10Fixture(t *testing.T) {
	root := t.TempDir()
	cifartest.Write(t, filepath.Join(root, "cifar-10-batches-bin"), 2, 3) // the tarball's layout
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
		want := cifartest.Record([]byte{byte(i % 10)}, i)
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
	cifartest.WriteFile(t, filepath.Join(dir, "train.bin"), append(cifartest.Record([]byte{3, 57}, 1), cifartest.Record([]byte{19, 99}, 2)...))
	cifartest.WriteFile(t, filepath.Join(dir, "test.bin"), cifartest.Record([]byte{0, 0}, 3))
	t.Setenv("POLLAB_CIFAR_DIR", "")
	t.Setenv("POLLAB_CIFAR100_DIR", dir)
	train, err := Load("cifar100", Train)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 2 || train.Classes != 100 || train.Label(0) != 57 || train.Label(1) != 99 || train.PointBytes() != 3072 {
		t.Errorf("cifar100 train: len %d classes %d labels %d %d", train.Len(), train.Classes, train.Label(0), train.Label(1))
	}
	if string(train.Raw(1)) != string(cifartest.Record(nil, 2)) {
		t.Error("cifar100 pixels wrong (coarse and fine label bytes not skipped?)")
	}
}

func TestCIFARBadFiles(t *testing.T) {
	for name, tc := range map[string]struct {
		base, file string
		content    []byte
		want       string
	}{
		"partial record":   {"cifar10", "test_batch.bin", append(cifartest.Record([]byte{1}, 0), 5), "3073-byte records"},
		"empty":            {"cifar10", "test_batch.bin", nil, "3073-byte records"},
		"cifar100 as 10":   {"cifar100", "test.bin", cifartest.Record([]byte{1}, 0), "3074-byte records"},
		"label range":      {"cifar10", "test_batch.bin", cifartest.Record([]byte{10}, 0), "label 10"},
		"fine label range": {"cifar100", "test.bin", cifartest.Record([]byte{1, 100}, 0), "label 100"},
		"coarse range":     {"cifar100", "test.bin", cifartest.Record([]byte{20, 1}, 0), "coarse label 20"},
	} {
		dir := t.TempDir()
		cifartest.WriteFile(t, filepath.Join(dir, tc.file), tc.content)
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
	cifartest.Write(t, dir, 2, 3)
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

// Each bad CIFAR-10 directory is one error from Load that names the file at fault; the
// layout errors wrap errBadRecords.
func TestCIFAR10BadDirectories(t *testing.T) {
	for _, kind := range cifartest.Bad {
		dir := t.TempDir()
		file := cifartest.WriteBad(t, dir, kind, 3, 2)
		t.Setenv("POLLAB_CIFAR_DIR", dir)
		_, err := Load("cifar10", Train)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, file)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming %s", kind, err, file)
			continue
		}
		if kind != cifartest.MissingFile && (!errors.Is(err, errBadRecords) || !strings.Contains(err.Error(), "3073-byte records")) {
			t.Errorf("%s: error %v does not give the record size", kind, err)
		}
		if kind == cifartest.MissingFile && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: error %v is not ErrNotExist", kind, err)
		}
		// The test split is intact: only the training split fails.
		if d, err := Load("cifar10", Test); err != nil || d.Len() != 2 {
			t.Errorf("%s: test split: %v", kind, err)
		}
	}
}
