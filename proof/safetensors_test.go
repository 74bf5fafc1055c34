package proof

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// handMade builds a safetensors file from the spec by hand: u64 LE header length, the JSON
// header padded with spaces, then the raw little-endian buffer.
func handMade(header string, pad int, buffer []byte) []byte {
	header += strings.Repeat(" ", pad)
	var out []byte
	out = binary.LittleEndian.AppendUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, buffer...)
}

func f32le(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func f64le(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func TestSafetensorsReadsHandMadeFile(t *testing.T) {
	// Tensor "b" comes first in the JSON but second in the buffer: the reader must go by
	// offsets, not by key order.
	header := `{"b":{"dtype":"F64","shape":[],"data_offsets":[8,16]},` +
		`"__metadata__":{"format":"pt","note":"h\u00e9"},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	buf := append(f32le(1.5, -2), f64le(3.25)...)
	file := handMade(header, 3, buf)

	h, err := parseSafetensorsHeader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["format"] != "pt" || h.Metadata["note"] != "hé" || len(h.Metadata) != 2 {
		t.Fatalf("metadata = %v", h.Metadata)
	}
	if h.BufferBase != int64(8+len(header)+3) || h.BufferLen != 16 {
		t.Fatalf("buffer at %d len %d", h.BufferBase, h.BufferLen)
	}
	if len(h.Tensors) != 2 || h.Tensors[0].Name != "a" || h.Tensors[1].Name != "b" {
		t.Fatalf("tensors = %+v", h.Tensors)
	}
	a, _ := h.Tensor("a")
	if a.DType != "F32" || len(a.Shape) != 1 || a.Shape[0] != 2 {
		t.Fatalf("a = %+v", a)
	}
	av := make([]float64, 2)
	if err := decodeFloats(file[h.BufferBase+a.Begin:h.BufferBase+a.End], a.DType, av); err != nil || av[0] != 1.5 || av[1] != -2 {
		t.Fatalf("a values %v, %v", av, err)
	}
	b, _ := h.Tensor("b")
	bv := make([]float64, 1)
	if err := decodeFloats(file[h.BufferBase+b.Begin:h.BufferBase+b.End], b.DType, bv); err != nil || bv[0] != 3.25 || len(b.Shape) != 0 {
		t.Fatalf("b values %v, %v (shape %v)", bv, err, b.Shape)
	}
}

func TestSafetensorsWriterMatchesSpecBytes(t *testing.T) {
	// Expected bytes written out by hand: metadata first with sorted keys, tensors by
	// descending dtype size then name, offsets from 0, header padded so the buffer is 8-aligned.
	header := `{"__metadata__":{"a":"1","z":"x\"y"},` +
		`"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},` +
		`"b":{"dtype":"F32","shape":[1,2],"data_offsets":[8,16]},` +
		`"c":{"dtype":"F32","shape":[0],"data_offsets":[16,16]}}`
	pad := (8 - (8+len(header))%8) % 8
	want := handMade(header, pad, append(f64le(-0.5), f32le(2, 0.25)...))

	var got bytes.Buffer
	err := writeSafetensors(&got, []stWriteTensor{
		{Name: "c", DType: "F32", Shape: []int{0}, Values: []float64{}},
		{Name: "b", DType: "F32", Shape: []int{1, 2}, Values: []float64{2, 0.25}},
		{Name: "w", DType: "F64", Shape: []int{1}, Values: []float64{-0.5}},
	}, map[string]string{"z": `x"y`, "a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("writer bytes differ from the spec:\n got %q\nwant %q", got.Bytes(), want)
	}
	if _, err := parseSafetensorsHeader(bytes.NewReader(want), int64(len(want))); err != nil {
		t.Fatalf("reader rejects the writer's own output: %v", err)
	}
}

func TestSafetensorsRejectsMalformed(t *testing.T) {
	okBuf := f32le(1, 2)
	tensorA := `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"too short", []byte{1, 2, 3}, "shorter than"},
		{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 1000), `{}`...), "exceeds the"},
		{"header over 100MB", binary.LittleEndian.AppendUint64(nil, 200_000_000), "limit"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "limit"},
		{"not JSON", handMade(`{"a":`, 0, nil), "invalid JSON"},
		{"not an object", handMade(`[1,2]`, 0, nil), "start with '{'"},
		{"trailing JSON", handMade(`{}{}`, 0, nil), "after the header"},
		{"invalid UTF-8", handMade("{\"\xff\":1}", 0, nil), "UTF-8"},
		{"unknown dtype", handMade(`{"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}`, 0, okBuf), "unknown dtype"},
		{"shape does not match span", handMade(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 0, okBuf), "span"},
		{"negative dimension", handMade(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 0, okBuf), "negative"},
		{"shape overflow", handMade(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 0, okBuf), "overflow"},
		{"offsets reversed", handMade(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 0, okBuf), "increasing"},
		{"three offsets", handMade(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, 0, okBuf), "pair"},
		{"missing field", handMade(`{"a":{"dtype":"F32","shape":[2]}}`, 0, okBuf), "needs dtype"},
		{"unknown field", handMade(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, 0, okBuf), "unknown field"},
		{"duplicate tensor", handMade(`{`+tensorA+`,`+tensorA+`}`, 0, okBuf), "duplicate key"},
		{"duplicate field", handMade(`{"a":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, 0, okBuf), "duplicate key"},
		{"overlap", handMade(`{`+tensorA+`,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 0, f32le(1, 2)), "overlaps"},
		{"gap", handMade(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 0, okBuf), "gap"},
		{"past the buffer", handMade(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 0, okBuf), "past the"},
		{"trailing bytes", handMade(`{`+tensorA+`}`, 0, append(okBuf, 0)), "trailing bytes"},
		{"metadata not strings", handMade(`{"__metadata__":{"a":1}}`, 0, nil), "not a string"},
		{"empty name", handMade(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 0, okBuf), "empty tensor name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSafetensorsHeader(bytes.NewReader(c.file), int64(len(c.file)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestDecodeFloatsRejectsNonFinite(t *testing.T) {
	dst := make([]float64, 2)
	if err := decodeFloats(f32le(1, float32(math.Inf(1))), "F32", dst); err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("F32 +Inf: %v", err)
	}
	if err := decodeFloats(f64le(math.NaN(), 1), "F64", dst); err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("F64 NaN: %v", err)
	}
	if err := decodeFloats(f64le(1), "F64", dst); err == nil {
		t.Fatal("short buffer accepted")
	}
}
