// Package cifartest writes CIFAR directories in the official binary layout for tests: a
// well-formed CIFAR-10 directory of any size, and the malformed kinds a loader must reject
// (a missing batch file, a truncated record, records of the wrong size). Every helper fails
// the test on an error.
package cifartest

import (
	"os"
	"path/filepath"
	"testing"
)

// Pixels is the number of pixel bytes of one record (3 channels of 32×32).
const Pixels = 3 * 32 * 32

// Record is one record: the label byte(s), then Pixels bytes derived from seed.
func Record(labels []byte, seed int) []byte {
	rec := append(make([]byte, 0, len(labels)+Pixels), labels...)
	for p := range Pixels {
		rec = append(rec, byte(p*7+seed*31))
	}
	return rec
}

// TrainFiles and TestFile are CIFAR-10's file names.
var (
	TrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	TestFile   = "test_batch.bin"
)

// Write writes a CIFAR-10 directory: five training batches of perBatch records (record i
// overall has label i mod 10 and pixel seed i) and a test batch of test records (record r:
// label 9 - r mod 10, seed 100 + r).
func Write(t testing.TB, dir string, perBatch, test int) {
	t.Helper()
	for b, name := range TrainFiles {
		var f []byte
		for r := range perBatch {
			i := b*perBatch + r
			f = append(f, Record([]byte{byte(i % 10)}, i)...)
		}
		WriteFile(t, filepath.Join(dir, name), f)
	}
	var f []byte
	for r := range test {
		f = append(f, Record([]byte{byte(9 - r%10)}, 100+r)...)
	}
	WriteFile(t, filepath.Join(dir, TestFile), f)
}

// Bad kinds of CIFAR-10 directory, each one defect in an otherwise good directory.
const (
	MissingFile = "missing file"      // data_batch_3.bin absent
	Truncated   = "truncated record"  // data_batch_2.bin ends 100 bytes into a record
	RecordSize  = "wrong record size" // data_batch_4.bin holds CIFAR-100 records (2 label bytes)
)

// Bad lists the bad kinds.
var Bad = []string{MissingFile, Truncated, RecordSize}

// WriteBad writes a CIFAR-10 directory (as Write) with the defect kind and returns the name
// of the file a loader must blame.
func WriteBad(t testing.TB, dir, kind string, perBatch, test int) string {
	t.Helper()
	Write(t, dir, perBatch, test)
	switch kind {
	case MissingFile:
		if err := os.Remove(filepath.Join(dir, TrainFiles[2])); err != nil {
			t.Fatal(err)
		}
		return TrainFiles[2]
	case Truncated:
		var f []byte
		for r := range perBatch {
			f = append(f, Record([]byte{1}, r)...)
		}
		WriteFile(t, filepath.Join(dir, TrainFiles[1]), append(f, Record([]byte{1}, 0)[:100]...))
		return TrainFiles[1]
	case RecordSize:
		var f []byte
		for r := range perBatch {
			f = append(f, Record([]byte{3, 57}, r)...)
		}
		WriteFile(t, filepath.Join(dir, TrainFiles[3]), f)
		return TrainFiles[3]
	}
	t.Fatalf("cifartest: unknown bad kind %q", kind)
	return ""
}

// WriteFile writes b to path, creating its directory.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
