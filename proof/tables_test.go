package proof

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestTablesRoundTrip(t *testing.T) {
	idx := []int32{0, 5, -1, 9, 3, -2}
	var b bytes.Buffer
	if err := writeIndices(&b, 3, 2, idx); err != nil {
		t.Fatal(err)
	}
	if int64(b.Len()) != indicesFileSize(3, 2) || string(b.Bytes()[:4]) != "PLIX" {
		t.Fatalf("indices file %d bytes %q", b.Len(), b.Bytes()[:4])
	}
	steps, batch, got, err := decodeIndices(b.Bytes(), 3, 2)
	if err != nil || steps != 3 || batch != 2 || !slices.Equal(got, idx) {
		t.Fatalf("indices round trip: %d×%d %v, %v", steps, batch, got, err)
	}

	hashes := [][32]byte{{1, 2, 3}, {31: 0xff}}
	b.Reset()
	if err := writeHashes(&b, hashes); err != nil {
		t.Fatal(err)
	}
	gotH, err := decodeHashes(b.Bytes(), 2)
	if err != nil || len(gotH) != 2 || gotH[0] != hashes[0] || gotH[1] != hashes[1] {
		t.Fatalf("hashes round trip: %v, %v", gotH, err)
	}

	seeds := []uint64{0, math.MaxUint64, 42}
	b.Reset()
	if err := writeAugSeeds(&b, seeds); err != nil {
		t.Fatal(err)
	}
	gotS, err := decodeAugSeeds(b.Bytes(), 3)
	if err != nil || len(gotS) != 3 || gotS[1] != math.MaxUint64 || gotS[2] != 42 {
		t.Fatalf("augseeds round trip: %v, %v", gotS, err)
	}

	b.Reset()
	putHeader(&b, payloadMagic, 2, 3)
	rec, _ := encodePayloadPoint(nil, []float64{0.5, -1, 1e-3}, 7)
	rec, _ = encodePayloadPoint(rec, []float64{0, 2, 3}, 0)
	b.Write(rec)
	p, err := decodePayload(b.Bytes(), 3, 10)
	if err != nil || p.Count != 2 || p.Dim != 3 || p.Labels[0] != 7 || p.Labels[1] != 0 {
		t.Fatalf("payload round trip: %+v, %v", p, err)
	}
	if v := math.Float32frombits(binary.LittleEndian.Uint32(p.Raw[8:])); v != float32(1e-3) {
		t.Fatalf("payload value %v", v)
	}
}

func TestTablesRejectMalformed(t *testing.T) {
	var good bytes.Buffer
	writeIndices(&good, 2, 2, []int32{1, 2, 3, 4})
	g := good.Bytes()
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), g...)) }
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter"},
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), "magic"},
		{"bad version", mut(func(b []byte) []byte { b[4] = 2; return b }), "version"},
		{"steps mismatch", mut(func(b []byte) []byte { b[8] = 3; return b }), "manifest says"},
		{"truncated", g[:len(g)-1], "bytes"},
		{"trailing", append(append([]byte(nil), g...), 0), "bytes"},
		{"field above int32", mut(func(b []byte) []byte { b[15] = 0x80; return b }), "above"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := decodeIndices(c.b, 2, 2)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	var p bytes.Buffer
	putHeader(&p, payloadMagic, 1, 2)
	p.Write(f32le(1, float32(math.NaN())))
	p.WriteByte(1)
	if _, err := decodePayload(p.Bytes(), 2, 10); err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("NaN payload: %v", err)
	}
	p.Bytes()[p.Len()-1] = 10
	if _, err := decodePayload(p.Bytes(), 2, 10); err == nil {
		t.Fatal("payload label 10 of 10 classes accepted")
	}
	if _, err := decodePayload(p.Bytes(), 3, 10); err == nil || !strings.Contains(err.Error(), "dimension") {
		t.Fatalf("wrong dim: %v", err)
	}
}

func TestTableSizesDoNotOverflow(t *testing.T) {
	if s := indicesFileSize(math.MaxInt32, math.MaxInt32); s >= 0 {
		t.Fatalf("indices table of 2^31 × 2^31 has size %d, want overflow (-1)", s)
	}
	if s := indicesFileSize(1<<20, 128); s != indicesHeaderLen+4<<27 {
		t.Fatalf("indices size %d", s)
	}
	if s := payloadFileSize(math.MaxInt32, math.MaxInt32); s >= 0 {
		t.Fatalf("payload of 2^31 points of dimension 2^31 has size %d, want overflow (-1)", s)
	}
	// A header claiming a huge payload must be refused before any allocation.
	var b bytes.Buffer
	putHeader(&b, payloadMagic, math.MaxInt32, math.MaxInt32)
	if _, err := decodePayload(b.Bytes(), -1, 0); err == nil {
		t.Fatal("huge payload header accepted")
	}
}
