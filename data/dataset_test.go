package data

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"sync"
	"testing"
)

// tinyU8 builds a 3-point U8 dataset of shape [2 2].
func tinyU8(t *testing.T) *Dataset {
	t.Helper()
	raw := []byte{0, 255, 10, 20, 1, 2, 3, 4, 9, 8, 7, 6}
	d, err := NewDataset("tiny", []int{2, 2}, 3, U8, raw, []uint8{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFeaturesU8(t *testing.T) {
	d := tinyU8(t)
	if d.Len() != 3 || d.Dim() != 4 || d.PointBytes() != 4 {
		t.Fatalf("len %d dim %d bytes %d", d.Len(), d.Dim(), d.PointBytes())
	}
	x := make([]float64, 4)
	d.Features(0, x)
	want := []float64{0, 1, 10.0 / 255, 20.0 / 255}
	for j := range x {
		if x[j] != want[j] {
			t.Errorf("feature %d = %v, want %v", j, x[j], want[j])
		}
	}
}

func TestPointHashIsRawBytesAndLabel(t *testing.T) {
	d := tinyU8(t)
	want := sha256.Sum256([]byte{1, 2, 3, 4, 1})
	if d.PointHash(1) != want {
		t.Errorf("PointHash(1) = %x, want %x", d.PointHash(1), want)
	}
	// Cached and uncached paths agree.
	hs := d.PointHashes()
	for i := range d.Len() {
		if hs[i] != d.PointHash(i) {
			t.Errorf("cached hash %d differs", i)
		}
	}
}

// TestTamperChangesHashes: one pixel or one label changes the point hash and fingerprint.
func TestTamperChangesHashes(t *testing.T) {
	base := tinyU8(t)
	mk := func(mutate func(raw []byte, labels []uint8)) *Dataset {
		raw := append([]byte(nil), base.raw...)
		labels := append([]uint8(nil), base.labels...)
		mutate(raw, labels)
		d, err := NewDataset(base.Name, base.Shape, base.Classes, U8, raw, labels)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	pixel := mk(func(raw []byte, _ []uint8) { raw[5]++ }) // point 1
	label := mk(func(_ []byte, labels []uint8) { labels[2] = 0 })
	same := mk(func([]byte, []uint8) {})
	if same.Fingerprint() != base.Fingerprint() {
		t.Fatal("identical data gives different fingerprints")
	}
	for name, tc := range map[string]struct {
		d     *Dataset
		point int
	}{"pixel": {pixel, 1}, "label": {label, 2}} {
		if tc.d.PointHash(tc.point) == base.PointHash(tc.point) {
			t.Errorf("%s change kept point hash", name)
		}
		if tc.d.Fingerprint() == base.Fingerprint() {
			t.Errorf("%s change kept fingerprint", name)
		}
		if !tc.d.Contains(base.PointHash(0)) || tc.d.Contains(base.PointHash(tc.point)) {
			t.Errorf("%s change: membership wrong", name)
		}
	}
	// Metadata is part of the fingerprint too.
	renamed, _ := NewDataset("other", base.Shape, base.Classes, U8, base.raw, base.labels)
	reshaped, _ := NewDataset(base.Name, []int{4}, base.Classes, U8, base.raw, base.labels)
	if renamed.Fingerprint() == base.Fingerprint() || reshaped.Fingerprint() == base.Fingerprint() {
		t.Error("name or shape change kept fingerprint")
	}
}

func TestAppendF32HashesFloat32Bytes(t *testing.T) {
	p, err := NewDataset("payload", []int{3}, 10, F32, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{0.1, 0.5, 1}
	AppendF32(p, x, 7)
	var raw []byte
	for _, v := range x {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(v)))
	}
	if p.Len() != 1 || p.PointBytes() != 12 || p.Label(0) != 7 {
		t.Fatalf("len %d bytes %d label %d", p.Len(), p.PointBytes(), p.Label(0))
	}
	if want := sha256.Sum256(append(raw, 7)); p.PointHash(0) != want {
		t.Errorf("payload hash %x, want %x", p.PointHash(0), want)
	}
	got := make([]float64, 3)
	p.Features(0, got)
	for j := range x {
		if got[j] != float64(float32(x[j])) {
			t.Errorf("feature %d = %v, want %v", j, got[j], float64(float32(x[j])))
		}
	}
	// Appending after the caches exist must refresh them.
	before := p.Fingerprint()
	if !p.Contains(p.PointHash(0)) {
		t.Fatal("payload does not contain its own point")
	}
	AppendF32(p, []float64{0, 0, 0}, 1)
	if p.Fingerprint() == before || !p.Contains(p.PointHash(1)) {
		t.Error("AppendF32 did not refresh fingerprint or membership")
	}
	// The same bytes re-read through NewDataset (how a proof loads them) hash the same.
	q, err := NewDataset("payload", []int{3}, 10, F32, append([]byte(nil), p.raw...), append([]uint8(nil), p.labels...))
	if err != nil {
		t.Fatal(err)
	}
	if q.Fingerprint() != p.Fingerprint() {
		t.Error("payload round trip changed the fingerprint")
	}
}

func TestNewDatasetRejects(t *testing.T) {
	nan := binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.NaN())))
	for name, tc := range map[string]struct {
		shape   []int
		classes int
		enc     Encoding
		raw     []byte
		labels  []uint8
	}{
		"short raw":   {[]int{2}, 2, U8, []byte{1}, []uint8{0}},
		"label range": {[]int{1}, 2, U8, []byte{1}, []uint8{2}},
		"zero dim":    {[]int{0}, 2, U8, nil, nil},
		"no shape":    {nil, 2, U8, nil, nil},
		"classes":     {[]int{1}, 0, U8, nil, nil},
		"encoding":    {[]int{1}, 2, Encoding(9), nil, nil},
		"f32 not 4x":  {[]int{1}, 2, F32, []byte{1}, []uint8{0}},
		"f32 NaN":     {[]int{1}, 2, F32, nan, []uint8{0}},
		"huge shape":  {[]int{1 << 30, 1 << 30}, 2, U8, nil, nil},
	} {
		if _, err := NewDataset("bad", tc.shape, tc.classes, tc.enc, tc.raw, tc.labels); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestContainsConcurrent(t *testing.T) {
	d, err := Load("synthetic:n=300,test=10,dim=8,classes=3,seed=5", Train)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := NewDataset(d.Name, d.Shape, d.Classes, d.Enc, d.raw, d.labels) // caches not built
	var wg sync.WaitGroup
	errs := make(chan int, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < fresh.Len(); i += 8 {
				if !fresh.Contains(d.PointHash(i)) {
					errs <- i
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for i := range errs {
		t.Errorf("point %d not found", i)
	}
	if fresh.Contains([32]byte{1}) {
		t.Error("contains a made-up hash")
	}
}
