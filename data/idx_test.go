package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxBytes encodes an IDX file of unsigned bytes.
func idxBytes(magic uint32, dims []uint32, body []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, body...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeIDX(t *testing.T) {
	good := idxBytes(idxLabelsMagic, []uint32{3}, []byte{1, 2, 3})
	for name, in := range map[string][]byte{"plain": good, "gzip": gzipBytes(t, good)} {
		f, err := decodeIDX(bytes.NewReader(in), 1<<20, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.magic != idxLabelsMagic || len(f.dims) != 1 || f.dims[0] != 3 || !bytes.Equal(f.body, []byte{1, 2, 3}) {
			t.Errorf("%s: got %+v", name, f)
		}
	}
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"empty":        {nil, "magic"},
		"short header": {[]byte{0, 0, 8}, "magic"},
		"nonzero":      {idxBytes(0x01000801, []uint32{1}, []byte{0}), "first two bytes"},
		"float type":   {idxBytes(0x00000d01, []uint32{1}, []byte{0, 0, 0, 0}), "element type"},
		"no dims":      {idxBytes(0x00000800, nil, nil), "dimensions"},
		"many dims":    {idxBytes(0x00000809, nil, nil), "dimensions"},
		"short dims":   {idxBytes(0x00000803, []uint32{2, 2}, nil), "dimensions"},
		"zero dim":     {idxBytes(0x00000802, []uint32{2, 0}, nil), "zero"},
		"too large":    {idxBytes(0x00000803, []uint32{1 << 31, 1 << 31, 1 << 31}, nil), "more than"},
		"truncated":    {idxBytes(idxLabelsMagic, []uint32{4}, []byte{1, 2}), "truncated"},
		"trailing":     {idxBytes(idxLabelsMagic, []uint32{1}, []byte{1, 2}), "trailing"},
		"bad gzip":     {[]byte{0x1f, 0x8b, 0, 0}, "gzip"},
	} {
		_, err := decodeIDX(bytes.NewReader(tc.in), 1<<20, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}

// mnistTestFiles copies MNIST's test split into a fresh directory, uncompressed, so cases can
// corrupt one file.
func mnistTestFiles(t *testing.T) (dir string, images, labels []byte) {
	t.Helper()
	src, err := mnistFamilyDir("mnist")
	if err != nil {
		t.Fatal(err)
	}
	images = gunzipFile(t, filepath.Join(src, "t10k-images-idx3-ubyte.gz"))
	labels = gunzipFile(t, filepath.Join(src, "t10k-labels-idx1-ubyte.gz"))
	return t.TempDir(), images, labels
}

func TestMNISTCorruptFiles(t *testing.T) {
	_, images, labels := mnistTestFiles(t)
	const imgName, labName = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	gz := gzipBytes(t, images)
	for name, tc := range map[string]struct {
		file        string // which file is damaged
		image, labs []byte
		gzipImages  bool
		want        string
	}{
		"truncated gzip":    {imgName + ".gz", gz[:len(gz)/2], labels, true, "truncated"},
		"corrupt gzip":      {imgName + ".gz", mod(gz, func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }), labels, true, ""},
		"bad gzip checksum": {imgName + ".gz", mod(gz, func(b []byte) []byte { b[len(b)-5] ^= 1; return b }), labels, true, "checksum"},
		"wrong magic":       {labName, images, mod(labels, func(b []byte) []byte { b[3] = 3; return b }), false, "magic"},
		"image magic":       {imgName, mod(images, func(b []byte) []byte { b[3] = 1; return b }), labels, false, "magic"},
		"count too big":     {imgName, mod(images, func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], 10001); return b }), labels, false, "truncated"},
		"rows wrong":        {imgName, mod(images, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 27); return b }), labels, false, ""},
		"truncated body":    {imgName, images[:len(images)-100], labels, false, "truncated"},
		"label count":       {labName, images, idxBytes(idxLabelsMagic, []uint32{9999}, labels[8:len(labels)-1]), false, "9999 labels"},
		"label value":       {labName, images, mod(labels, func(b []byte) []byte { b[100] = 10; return b }), false, "label 10"},
	} {
		dir := t.TempDir()
		imgFile := filepath.Join(dir, imgName)
		if tc.gzipImages {
			imgFile += ".gz"
		}
		if err := os.WriteFile(imgFile, tc.image, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, labName), tc.labs, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := loadMNISTFamily("mnist", dir, Test)
		t.Logf("%s: %v", name, err)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, filepath.Join(dir, tc.file)) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q should name %s and mention %q", name, msg, tc.file, tc.want)
		}
	}
}

// TestMNISTUncompressedViaEnv loads unzipped copies through $POLLAB_MNIST_DIR and gets the same
// data as the module's gzip files.
func TestMNISTUncompressedViaEnv(t *testing.T) {
	dir, images, labels := mnistTestFiles(t)
	for name, b := range map[string][]byte{"t10k-images-idx3-ubyte": images, "t10k-labels-idx1-ubyte": labels} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("POLLAB_MNIST_DIR", dir)
	got, err := Load("mnist", Test)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("POLLAB_MNIST_DIR", "")
	want, err := Load("mnist", Test)
	if err != nil {
		t.Fatal(err)
	}
	if got == want || got.Fingerprint() != want.Fingerprint() {
		t.Error("unzipped copy not loaded separately or differs")
	}
	if _, err := Load("mnist", Train); err != nil { // env unset again: module files
		t.Fatal(err)
	}
	t.Setenv("POLLAB_MNIST_DIR", t.TempDir())
	if _, err := Load("mnist", Train); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte") {
		t.Errorf("empty $POLLAB_MNIST_DIR: error %v", err)
	}
}

// FuzzIDX feeds arbitrary bytes to the IDX parser and the MNIST header checks: they may reject
// the input but must never panic, and an accepted file's body matches its header.
func FuzzIDX(f *testing.F) {
	f.Add(idxBytes(idxLabelsMagic, []uint32{3}, []byte{1, 2, 9}))
	f.Add(idxBytes(idxImagesMagic, []uint32{1, 2, 2}, []byte{0, 255, 3, 4}))
	f.Add(gzipBytes(f, idxBytes(idxImagesMagic, []uint32{1, 28, 28}, make([]byte, 784))))
	f.Fuzz(func(t *testing.T, in []byte) {
		idx, err := decodeIDX(bytes.NewReader(in), 1<<16, 0)
		if err != nil {
			return
		}
		n := 1
		for _, d := range idx.dims {
			n *= d
		}
		if n != len(idx.body) {
			t.Fatalf("dims %v but %d body bytes", idx.dims, len(idx.body))
		}
		if k, err := idxImages(idx, 2, 2); err == nil && k*4 != len(idx.body) {
			t.Fatalf("%d images of 2x2 but %d bytes", k, len(idx.body))
		}
		if k, err := idxLabels(idx, 10); err == nil && k != len(idx.body) {
			t.Fatalf("%d labels but %d bytes", k, len(idx.body))
		}
	})
}
