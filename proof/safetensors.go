package proof

// A small, spec-faithful safetensors codec.
//
// Why not github.com/nlpodyssey/safetensors: a proof is attacker-controlled input, and the
// verifier must check the header length against the real file size and the tensor layout
// against the model *before* it allocates anything, reject duplicate JSON keys (which
// encoding/json silently collapses), reject trailing bytes, and never panic. The library
// decodes a fully buffered file and is lenient about exactly those points; writing the format
// ourselves is about 300 lines and keeps allocation bounded by the file size.
//
// Layout (https://github.com/huggingface/safetensors):
//
//	u64 LE  N                     header length
//	N bytes JSON header           {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}}
//	        byte buffer           tensor data, offsets relative to the buffer start
//
// The header may be padded with trailing spaces; our writer pads it so that the buffer starts at
// an 8-byte boundary. Tensors must tile the buffer exactly (no gap, no overlap, nothing after).
//
// Writer order: tensors are laid out by descending dtype size, then by name in byte order (the
// reference library's order: alignment first, then name); the header lists "__metadata__" first
// and then the tensors in buffer order, so the same tensors and metadata always give the same
// bytes.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

// maxSafetensorsHeader is the reference implementation's cap on the JSON header (100 MB).
const maxSafetensorsHeader = 100_000_000

// stDTypeSizes lists every dtype of the safetensors spec with its element size in bytes.
var stDTypeSizes = map[string]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// stTensorInfo is one tensor entry of a safetensors header.
type stTensorInfo struct {
	Name       string
	DType      string
	Shape      []int64
	Begin, End int64 // relative to the buffer start
}

// stHeader is a parsed and validated safetensors header.
type stHeader struct {
	Tensors    []stTensorInfo // in buffer order
	Metadata   map[string]string
	BufferBase int64 // absolute offset of the buffer (8 + N)
	BufferLen  int64
}

// Tensor returns the entry with the given name.
func (h *stHeader) Tensor(name string) (stTensorInfo, bool) {
	for _, t := range h.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return stTensorInfo{}, false
}

// parseSafetensorsHeader reads and validates the header of a safetensors file of fileSize
// bytes. It allocates at most the header length, which it first checks against fileSize.
func parseSafetensorsHeader(r io.ReaderAt, fileSize int64) (*stHeader, error) {
	if fileSize < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, shorter than the 8-byte header length", fileSize)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxSafetensorsHeader {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit", n, maxSafetensorsHeader)
	}
	if n > uint64(fileSize-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes after the length field", n, fileSize-8)
	}
	raw := make([]byte, n)
	if _, err := r.ReadAt(raw, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading %d-byte header: %w", n, err)
	}
	h, err := decodeSafetensorsJSON(raw)
	if err != nil {
		return nil, err
	}
	h.BufferBase = 8 + int64(n)
	h.BufferLen = fileSize - h.BufferBase
	if err := h.checkLayout(); err != nil {
		return nil, err
	}
	return h, nil
}

// decodeSafetensorsJSON parses the JSON header, strictly: valid UTF-8, an object starting at
// the first byte, no duplicate keys, known dtypes, well-formed shapes and offsets.
func decodeSafetensorsJSON(raw []byte) (*stHeader, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("safetensors: header does not start with '{'")
	}
	if !utf8.Valid(raw) {
		return nil, errors.New("safetensors: header is not valid UTF-8")
	}
	entries, err := decodeObjectStrict(raw)
	if err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	h := &stHeader{}
	for _, e := range entries {
		if e.key == "__metadata__" {
			md, err := decodeStringMap(e.value)
			if err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__: %w", err)
			}
			h.Metadata = md
			continue
		}
		t, err := decodeTensorInfo(e.key, e.value)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, t)
	}
	return h, nil
}

type jsonEntry struct {
	key   string
	value json.RawMessage
}

// decodeObjectStrict splits one JSON object into its members in order, rejecting duplicate
// keys and anything but whitespace after the closing brace.
func decodeObjectStrict(raw []byte) ([]jsonEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	var out []jsonEntry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("invalid JSON: object key is not a string")
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("invalid JSON value for %q: %w", key, err)
		}
		out = append(out, jsonEntry{key, v})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the header object")
	}
	return out, nil
}

func decodeStringMap(raw []byte) (map[string]string, error) {
	entries, err := decodeObjectStrict(raw)
	if err != nil {
		return nil, err
	}
	md := make(map[string]string, len(entries))
	for _, e := range entries {
		var s string
		if err := json.Unmarshal(e.value, &s); err != nil {
			return nil, fmt.Errorf("value of %q is not a string", e.key)
		}
		md[e.key] = s
	}
	return md, nil
}

func decodeTensorInfo(name string, raw []byte) (stTensorInfo, error) {
	t := stTensorInfo{Name: name}
	fail := func(format string, a ...any) (stTensorInfo, error) {
		return stTensorInfo{}, fmt.Errorf("safetensors: tensor %q: "+format, append([]any{name}, a...)...)
	}
	if name == "" {
		return fail("empty tensor name")
	}
	entries, err := decodeObjectStrict(raw)
	if err != nil {
		return fail("%v", err)
	}
	var haveDType, haveShape, haveOffsets bool
	for _, e := range entries {
		switch e.key {
		case "dtype":
			if err := json.Unmarshal(e.value, &t.DType); err != nil {
				return fail("dtype is not a string")
			}
			haveDType = true
		case "shape":
			if err := json.Unmarshal(e.value, &t.Shape); err != nil || t.Shape == nil {
				return fail("shape is not a list of integers")
			}
			haveShape = true
		case "data_offsets":
			var off []int64
			if err := json.Unmarshal(e.value, &off); err != nil || len(off) != 2 {
				return fail("data_offsets is not a pair of integers")
			}
			t.Begin, t.End = off[0], off[1]
			haveOffsets = true
		default:
			return fail("unknown field %q", e.key)
		}
	}
	if !haveDType || !haveShape || !haveOffsets {
		return fail("needs dtype, shape and data_offsets")
	}
	size, ok := stDTypeSizes[t.DType]
	if !ok {
		return fail("unknown dtype %q", t.DType)
	}
	if t.Begin < 0 || t.End < t.Begin {
		return fail("data_offsets [%d, %d] are not an increasing pair of non-negative offsets", t.Begin, t.End)
	}
	n, err := shapeElements(t.Shape)
	if err != nil {
		return fail("%v", err)
	}
	if n > math.MaxInt64/size || n*size != t.End-t.Begin {
		return fail("shape %v of %s needs %d elements of %d bytes, data_offsets span %d bytes", t.Shape, t.DType, n, size, t.End-t.Begin)
	}
	return t, nil
}

// shapeElements multiplies out a shape, rejecting negative dimensions and overflow.
func shapeElements(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		n *= d
	}
	return n, nil
}

// checkLayout verifies that the tensors tile the buffer exactly and sorts them by offset.
func (h *stHeader) checkLayout() error {
	sort.SliceStable(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	var pos int64
	for _, t := range h.Tensors {
		if t.Begin < pos {
			return fmt.Errorf("safetensors: tensor %q at [%d, %d] overlaps the previous tensor ending at %d", t.Name, t.Begin, t.End, pos)
		}
		if t.Begin > pos {
			return fmt.Errorf("safetensors: gap of %d bytes before tensor %q at %d", t.Begin-pos, t.Name, t.Begin)
		}
		pos = t.End
	}
	if pos > h.BufferLen {
		return fmt.Errorf("safetensors: tensors end at %d, past the %d-byte buffer (truncated file?)", pos, h.BufferLen)
	}
	if pos < h.BufferLen {
		return fmt.Errorf("safetensors: %d trailing bytes after the last tensor", h.BufferLen-pos)
	}
	return nil
}

// stWriteTensor is one tensor to write: float values are held as float64 and encoded as
// DType ("F32" or "F64"); an "I64" tensor's values are Ints.
type stWriteTensor struct {
	Name   string
	DType  string
	Shape  []int
	Values []float64
	Ints   []int64
}

// len is the tensor's element count.
func (t stWriteTensor) len() int {
	if t.DType == "I64" {
		return len(t.Ints)
	}
	return len(t.Values)
}

// writeSafetensors streams a safetensors file to w: the header first, then each tensor's data
// through a small buffer, so memory beyond the caller's values is O(header).
func writeSafetensors(w io.Writer, tensors []stWriteTensor, metadata map[string]string) error {
	order := make([]stWriteTensor, len(tensors))
	copy(order, tensors)
	seen := map[string]bool{"__metadata__": true}
	for _, t := range order {
		if seen[t.Name] || t.Name == "" {
			return fmt.Errorf("safetensors: invalid or duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		if t.DType != "F32" && t.DType != "F64" && t.DType != "I64" {
			return fmt.Errorf("safetensors: tensor %q: writer supports F32, F64 and I64, not %q", t.Name, t.DType)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q: negative dimension in %v", t.Name, t.Shape)
			}
			n *= d
		}
		if n != t.len() {
			return fmt.Errorf("safetensors: tensor %q: shape %v needs %d values, have %d", t.Name, t.Shape, n, t.len())
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		si, sj := stDTypeSizes[order[i].DType], stDTypeSizes[order[j].DType]
		if si != sj {
			return si > sj
		}
		return order[i].Name < order[j].Name
	})

	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hdr.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			writeJSONString(&hdr, k)
			hdr.WriteByte(':')
			writeJSONString(&hdr, metadata[k])
		}
		hdr.WriteByte('}')
		first = false
	}
	var off int64
	for _, t := range order {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
		end := off + int64(t.len())*stDTypeSizes[t.DType]
		writeJSONString(&hdr, t.Name)
		hdr.WriteString(`:{"dtype":"` + t.DType + `","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				hdr.WriteByte(',')
			}
			hdr.WriteString(strconv.Itoa(d))
		}
		hdr.WriteString(`],"data_offsets":[` + strconv.FormatInt(off, 10) + `,` + strconv.FormatInt(end, 10) + `]}`)
		off = end
	}
	hdr.WriteByte('}')
	for (8+hdr.Len())%8 != 0 {
		hdr.WriteByte(' ')
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(hdr.Len()))
	bw.Write(lenBuf[:])
	bw.Write(hdr.Bytes())
	var b [8]byte
	for _, t := range order {
		for _, v := range t.Ints {
			binary.LittleEndian.PutUint64(b[:], uint64(v))
			bw.Write(b[:])
		}
		for _, v := range t.Values {
			if t.DType == "F32" {
				binary.LittleEndian.PutUint32(b[:4], math.Float32bits(float32(v)))
				bw.Write(b[:4])
			} else {
				binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
				bw.Write(b[:])
			}
		}
	}
	if err := bw.Flush(); err != nil { // bufio keeps the first write error
		return fmt.Errorf("safetensors: writing: %w", err)
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

// decodeFloats decodes a tensor's bytes (F32 or F64, little-endian) into dst, which must have
// exactly the tensor's element count, and reports the first non-finite value.
func decodeFloats(raw []byte, dtype string, dst []float64) error {
	switch dtype {
	case "F32":
		if len(raw) != 4*len(dst) {
			return fmt.Errorf("have %d bytes for %d F32 values", len(raw), len(dst))
		}
		for i := range dst {
			dst[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	case "F64":
		if len(raw) != 8*len(dst) {
			return fmt.Errorf("have %d bytes for %d F64 values", len(raw), len(dst))
		}
		for i := range dst {
			dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	default:
		return fmt.Errorf("dtype %s is not a float type pollab stores", dtype)
	}
	for i, v := range dst {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("value %d is %v (not finite)", i, v)
		}
	}
	return nil
}
