package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CIFAR binary record layout: label byte(s) then 3072 pixel bytes, channels-first (1024 red,
// 1024 green, 1024 blue, each row-major 32×32).
const (
	cifarPixels      = 3 * 32 * 32
	cifar10Record    = 1 + cifarPixels
	cifar100Record   = 2 + cifarPixels // coarse label, fine label, pixels
	cifarMaxFileSize = 1 << 30
)

// errBadRecords marks a CIFAR file whose size does not fit the record layout.
var errBadRecords = errors.New("file size is not a whole number of records")

// cifarLayout describes one CIFAR variant on disk.
type cifarLayout struct {
	env     []string // directory variables, first set wins
	subdir  string   // directory the official tarball extracts to
	tarball string   // the official binary version
	train   []string
	test    []string
	record  int
	classes int
}

var cifarLayouts = map[string]cifarLayout{
	"cifar10": {
		env:     []string{"POLLAB_CIFAR_DIR"},
		subdir:  "cifar-10-batches-bin",
		tarball: "cifar-10-binary.tar.gz",
		train:   []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		test:    []string{"test_batch.bin"},
		record:  cifar10Record,
		classes: 10,
	},
	"cifar100": {
		env:     []string{"POLLAB_CIFAR100_DIR", "POLLAB_CIFAR_DIR"},
		subdir:  "cifar-100-binary",
		tarball: "cifar-100-binary.tar.gz",
		train:   []string{"train.bin"},
		test:    []string{"test.bin"},
		record:  cifar100Record,
		classes: 100,
	},
}

// cifarDir finds the directory holding the binary files: the first set variable, or its
// extracted-tarball subdirectory.
func cifarDir(base string) (string, error) {
	lay := cifarLayouts[base]
	var root, from string
	for _, v := range lay.env {
		if d := os.Getenv(v); d != "" {
			root, from = d, v
			break
		}
	}
	if root == "" {
		return "", fmt.Errorf("no data directory: set $%s to the directory of the binary version (%s, extracted from %s of https://www.cs.toronto.edu/~kriz/cifar.html)",
			lay.env[0], lay.test[0], lay.tarball)
	}
	for _, d := range []string{root, filepath.Join(root, lay.subdir)} {
		if st, err := os.Stat(filepath.Join(d, lay.test[0])); err == nil && !st.IsDir() {
			return d, nil
		}
	}
	return "", fmt.Errorf("$%s=%s: no %s there or in %s/", from, root, lay.test[0], lay.subdir)
}

// loadCIFAR reads one split of CIFAR-10 or CIFAR-100 (fine labels) from dir.
func loadCIFAR(base, dir string, split Split) (*Dataset, error) {
	lay := cifarLayouts[base]
	files := lay.train
	if split == Test {
		files = lay.test
	}
	var raw, labels []byte
	for _, name := range files {
		path := filepath.Join(dir, name)
		b, err := readCIFARFile(path, lay.record)
		if err != nil {
			return nil, fmt.Errorf("load %s %v: %w", base, split, err)
		}
		n := len(b) / lay.record
		if raw == nil {
			raw = make([]byte, 0, n*len(files)*cifarPixels)
			labels = make([]byte, 0, n*len(files))
		}
		for r := range n {
			rec := b[r*lay.record : (r+1)*lay.record]
			y := rec[0]
			if lay.record == cifar100Record {
				if rec[0] >= 20 {
					return nil, fmt.Errorf("load %s %v: file %s record %d: coarse label %d, want < 20", base, split, path, r, rec[0])
				}
				y = rec[1]
			}
			if int(y) >= lay.classes {
				return nil, fmt.Errorf("load %s %v: file %s record %d: label %d, want < %d", base, split, path, r, y, lay.classes)
			}
			labels = append(labels, y)
			raw = append(raw, rec[lay.record-cifarPixels:]...)
		}
	}
	d, err := NewDataset(base, []int{3, 32, 32}, lay.classes, U8, raw, labels)
	if err != nil {
		return nil, fmt.Errorf("load %s %v: %w", base, split, err)
	}
	return d, nil
}

// readCIFARFile reads a whole binary batch after checking that its size is a positive whole
// number of records (and bounded), so nothing is allocated for a malformed file.
func readCIFARFile(path string, record int) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if !st.Mode().IsRegular() || size == 0 || size%int64(record) != 0 || size > cifarMaxFileSize {
		return nil, fmt.Errorf("CIFAR file %s: %d bytes is not a positive whole number of %d-byte records: %w", path, size, record, errBadRecords)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CIFAR file %s: %w", path, err)
	}
	if len(b) != int(size) {
		return nil, fmt.Errorf("CIFAR file %s changed size while reading (%d, then %d bytes): %w", path, size, len(b), errBadRecords)
	}
	return b, nil
}
