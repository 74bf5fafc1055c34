package data

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"pollab/internal/enum"
	"sync"
	"sync/atomic"
)

// Encoding says how a point's raw bytes decode to features.
type Encoding int

const (
	// U8 stores one byte per feature; the feature is byte/255.
	U8 Encoding = iota
	// F32 stores one little-endian float32 per feature (crafted payload points).
	F32
)

// String names the encoding ("u8", "f32").
func (e Encoding) String() string { return encodings.String(e) }

var encodings = enum.Table[Encoding]{Type: "Encoding",
	Values: []enum.Value[Encoding]{enum.V(U8, "u8"), enum.V(F32, "f32")}}

// bytesPerFeature is the width of one feature in raw bytes, 0 for unknown encodings.
func (e Encoding) bytesPerFeature() int {
	switch e {
	case U8:
		return 1
	case F32:
		return 4
	}
	return 0
}

// MaxClasses is the largest class count a Dataset can hold: labels are stored (and hashed) as
// one byte.
const MaxClasses = 256

// maxDatasetBytes bounds the raw storage of one dataset, so that sizes taken from untrusted
// names or headers cannot request absurd allocations.
const maxDatasetBytes = 1 << 32

// Dataset is a labelled set of points with fixed per-point shape. Loaded datasets are shared
// and must be treated as read-only; every method except AppendF32 is safe for concurrent use.
type Dataset struct {
	Name    string // canonical, re-loadable: "mnist", "fashion-mnist", "cifar10", "synthetic:n=2048,test=512,dim=64,classes=10,seed=1"
	Shape   []int  // per point, e.g. [1 28 28]
	Classes int
	Enc     Encoding

	raw        []byte
	labels     []uint8
	pointBytes int
	cache      *hashCache
}

// hashCache holds the lazily computed point hashes and membership index. It is replaced as a
// whole by AppendF32, so readers never observe a half-updated cache.
type hashCache struct {
	hashesOnce sync.Once
	hashes     [][32]byte
	ready      atomic.Pointer[[][32]byte] // set once hashes is complete
	indexOnce  sync.Once
	index      map[[32]byte]struct{}
	fpOnce     sync.Once
	fp         [32]byte
}

// NewDataset wraps raw point bytes and labels (taking ownership of both slices, which must
// not be modified afterwards). raw must hold len(labels) points of prod(shape) features in
// encoding enc, and every label must be below classes. An empty dataset (no points) is valid,
// e.g. as the start of a payload filled by AppendF32.
func NewDataset(name string, shape []int, classes int, enc Encoding, raw []byte, labels []uint8) (*Dataset, error) {
	dim, err := shapeDim(shape)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", name, err)
	}
	if classes < 1 || classes > MaxClasses {
		return nil, fmt.Errorf("dataset %q: %d classes, want 1..%d", name, classes, MaxClasses)
	}
	width := enc.bytesPerFeature()
	if width == 0 {
		return nil, fmt.Errorf("dataset %q: unknown encoding %d", name, int(enc))
	}
	pointBytes := dim * width
	if len(raw) != len(labels)*pointBytes {
		return nil, fmt.Errorf("dataset %q: %d raw bytes for %d points of %d bytes", name, len(raw), len(labels), pointBytes)
	}
	for i, y := range labels {
		if int(y) >= classes {
			return nil, fmt.Errorf("dataset %q: point %d has label %d, want < %d classes", name, i, y, classes)
		}
	}
	if enc == F32 {
		for i := 0; i < len(raw); i += 4 {
			v := math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("dataset %q: point %d feature %d is %v", name, i/pointBytes, (i%pointBytes)/4, v)
			}
		}
	}
	return &Dataset{
		Name:       name,
		Shape:      append([]int(nil), shape...),
		Classes:    classes,
		Enc:        enc,
		raw:        raw,
		labels:     labels,
		pointBytes: pointBytes,
		cache:      &hashCache{},
	}, nil
}

// shapeDim validates a per-point shape and returns the number of features.
func shapeDim(shape []int) (int, error) {
	if len(shape) == 0 {
		return 0, errors.New("empty shape")
	}
	dim := 1
	for _, s := range shape {
		if s < 1 {
			return 0, fmt.Errorf("shape %v has a non-positive dimension", shape)
		}
		if dim > maxDatasetBytes/s {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		dim *= s
	}
	return dim, nil
}

// AppendF32 appends one crafted point to an F32 dataset (a payload), rounding x to float32.
// It must not run concurrently with any other method on d. It panics if d is not F32, if
// len(x) != d.Dim(), if the label is out of range or a feature is not finite: these are
// programming errors of the caller, which builds payloads from its own computations. Use
// NewDataset for bytes read from an untrusted source.
func AppendF32(d *Dataset, x []float64, label int) {
	if d.Enc != F32 {
		panic(fmt.Sprintf("data.AppendF32: dataset %q has encoding %v, want f32", d.Name, d.Enc))
	}
	if len(x) != d.Dim() {
		panic(fmt.Sprintf("data.AppendF32: point has %d features, dataset %q wants %d", len(x), d.Name, d.Dim()))
	}
	if label < 0 || label >= d.Classes {
		panic(fmt.Sprintf("data.AppendF32: label %d out of range [0,%d)", label, d.Classes))
	}
	for j, v := range x {
		f := float32(v)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			panic(fmt.Sprintf("data.AppendF32: feature %d is %v", j, v))
		}
		d.raw = binary.LittleEndian.AppendUint32(d.raw, math.Float32bits(f))
	}
	d.labels = append(d.labels, uint8(label))
	d.cache = &hashCache{}
}

// Len is the number of points.
func (d *Dataset) Len() int { return len(d.labels) }

// Dim is the number of features of one point (the product of Shape).
func (d *Dataset) Dim() int {
	return d.pointBytes / d.Enc.bytesPerFeature()
}

// Features is the number of values of one point of the given shape: the product of its
// dimensions (a model's per-sample input shape, flattened).
func Features(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Fits is nil when d's points feed a model (spec names it) of per-sample input shape and
// classes: as many features and classes; otherwise the error names both sides.
func (d *Dataset) Fits(spec string, shape []int, classes int) error {
	if dim := Features(shape); d.Dim() != dim || d.Classes != classes {
		return fmt.Errorf("model %s takes %d features and %d classes, dataset %s has %d and %d",
			spec, dim, classes, d.Name, d.Dim(), d.Classes)
	}
	return nil
}

// PointBytes is the size of one point's raw encoding.
func (d *Dataset) PointBytes() int { return d.pointBytes }

// Raw returns point i's raw bytes (a view into the dataset: do not modify).
func (d *Dataset) Raw(i int) []byte {
	return d.raw[i*d.pointBytes : (i+1)*d.pointBytes : (i+1)*d.pointBytes]
}

// Label returns point i's class.
func (d *Dataset) Label(i int) int { return int(d.labels[i]) }

// Features decodes point i into dst (len(dst) must be at least Dim()). U8 points decode to
// byte/255 in [0, 1]; F32 points decode to their stored float32 values, which crafted
// payloads keep in [0, 1] by construction (this method does not clamp, so that features
// round-trip exactly).
func (d *Dataset) Features(i int, dst []float64) {
	raw := d.Raw(i)
	switch d.Enc {
	case U8:
		dst = dst[:len(raw)]
		for j, b := range raw {
			dst[j] = float64(b) / 255
		}
	case F32:
		n := len(raw) / 4
		dst = dst[:n]
		for j := range n {
			dst[j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])))
		}
	}
}

// PointHash is SHA-256(raw bytes || label byte) of point i.
func (d *Dataset) PointHash(i int) [32]byte {
	if hs := d.cachedHashes(); hs != nil {
		return hs[i]
	}
	return d.hashPoint(i)
}

// cachedHashes returns the point hashes if PointHashes already computed them, else nil.
func (d *Dataset) cachedHashes() [][32]byte {
	if p := d.cache.ready.Load(); p != nil {
		return *p
	}
	return nil
}

func (d *Dataset) hashPoint(i int) [32]byte {
	h := sha256.New()
	h.Write(d.Raw(i))
	h.Write([]byte{d.labels[i]})
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// PointHashes returns every point hash in order, computed once and cached (do not modify).
func (d *Dataset) PointHashes() [][32]byte {
	c := d.cache
	c.hashesOnce.Do(func() {
		hs := make([][32]byte, d.Len())
		for i := range hs {
			hs[i] = d.hashPoint(i)
		}
		c.hashes = hs
		c.ready.Store(&c.hashes)
	})
	return c.hashes
}

// Fingerprint is SHA-256 over the canonical name, shape, class count, number of points and
// every point hash in order (integers as little-endian uint64, the name length-prefixed), so
// any change to a byte, a label, the order or the declared metadata changes it. Computed once.
func (d *Dataset) Fingerprint() [32]byte {
	c := d.cache
	c.fpOnce.Do(func() { c.fp = d.fingerprint() })
	return c.fp
}

func (d *Dataset) fingerprint() [32]byte {
	h := sha256.New()
	var buf [8]byte
	putU64 := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	putU64(uint64(len(d.Name)))
	h.Write([]byte(d.Name))
	putU64(uint64(len(d.Shape)))
	for _, s := range d.Shape {
		putU64(uint64(s))
	}
	putU64(uint64(d.Classes))
	putU64(uint64(d.Len()))
	for _, ph := range d.PointHashes() {
		h.Write(ph[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Contains reports whether some point of d has point hash h. The index is built on first use
// and shared by concurrent readers.
func (d *Dataset) Contains(h [32]byte) bool {
	c := d.cache
	c.indexOnce.Do(func() {
		hs := d.PointHashes()
		idx := make(map[[32]byte]struct{}, len(hs))
		for _, ph := range hs {
			idx[ph] = struct{}{}
		}
		c.index = idx
	})
	_, ok := c.index[h]
	return ok
}
