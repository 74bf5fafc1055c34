package proof

// Binary tables of a proof. All integers are little-endian; every table starts with a 4-byte
// magic and a u32 version, so a file can never be mistaken for another.
//
//	indices.bin   "PLIX" u32 version, u32 steps, u32 batch, then steps·batch int32
//	hashes.bin    "PLBH" u32 version, u32 steps, then steps × 32-byte batch hashes
//	augseeds.bin  "PLAS" u32 version, u32 steps, then steps × u64
//	payload.bin   "PLPL" u32 version, u32 count, u32 dim, then count × (dim f32, u8 label)
//
// Decoders take the whole file's bytes, whose length the reader has already checked against
// the manifest, and verify the header against the expected sizes before allocating.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

const tableVersion = 1

const (
	indicesMagic  = "PLIX"
	hashesMagic   = "PLBH"
	augSeedsMagic = "PLAS"
	payloadMagic  = "PLPL"

	indicesHeaderLen  = 16
	perStepHeaderLen  = 12 // magic, version, steps: the header of a table of one record per step
	hashesHeaderLen   = perStepHeaderLen
	augSeedsHeaderLen = perStepHeaderLen
	payloadHeaderLen  = 16
)

// maxTableDim bounds steps, batch, count and dim: they are u32 on disk, and keeping them below
// 2^31 makes every size product fit an int64.
const maxTableDim = math.MaxInt32

// indicesFileSize is the exact size of indices.bin for a steps×batch table, or -1 on overflow.
func indicesFileSize(steps, batch int) int64 {
	if steps < 0 || batch < 0 || steps > maxTableDim || batch > maxTableDim {
		return -1
	}
	return sizeOf(indicesHeaderLen, int64(steps), 4*int64(batch))
}

// sizeOf is header + count·each, or -1 when that overflows an int64.
func sizeOf(header, count, each int64) int64 {
	if count < 0 || each < 0 || (each > 0 && count > (math.MaxInt64-header)/each) {
		return -1
	}
	return header + count*each
}

func hashesFileSize(steps int) int64 { return perStepFileSize(steps, 32) }

func augSeedsFileSize(steps int) int64 { return perStepFileSize(steps, 8) }

// perStepFileSize is the exact size of a table of one width-byte record per step after a
// 12-byte header (hashes.bin, augseeds.bin), or -1 on overflow.
func perStepFileSize(steps, width int) int64 {
	if steps < 0 || steps > maxTableDim {
		return -1
	}
	return perStepHeaderLen + int64(width)*int64(steps)
}

// payloadPointBytes is the on-disk size of one payload point of dimension dim.
func payloadPointBytes(dim int) int64 { return 4*int64(dim) + 1 }

func payloadFileSize(count, dim int) int64 {
	if count < 0 || dim < 0 || count > maxTableDim || dim > maxTableDim {
		return -1
	}
	return sizeOf(payloadHeaderLen, int64(count), payloadPointBytes(dim))
}

func putHeader(w io.Writer, magic string, fields ...int) error {
	buf := make([]byte, 0, 4+4*(len(fields)+1))
	buf = append(buf, magic...)
	buf = binary.LittleEndian.AppendUint32(buf, tableVersion)
	for _, f := range fields {
		if f < 0 || f > maxTableDim {
			return fmt.Errorf("%s header field %d out of range", magic, f)
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(f))
	}
	_, err := w.Write(buf)
	return err
}

// checkHeader verifies magic and version and returns the u32 fields that follow.
func checkHeader(b []byte, magic string, nFields int) ([]int, error) {
	need := 8 + 4*nFields
	if len(b) < need {
		return nil, fmt.Errorf("%d bytes, shorter than the %d-byte header", len(b), need)
	}
	if string(b[:4]) != magic {
		return nil, fmt.Errorf("magic %q, want %q", b[:4], magic)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != tableVersion {
		return nil, fmt.Errorf("version %d, want %d", v, tableVersion)
	}
	out := make([]int, nFields)
	for i := range out {
		v := binary.LittleEndian.Uint32(b[8+4*i:])
		if v > maxTableDim {
			return nil, fmt.Errorf("header field %d is %d, above %d", i, v, maxTableDim)
		}
		out[i] = int(v)
	}
	return out, nil
}

// writeIndices writes indices.bin for a steps×batch table.
func writeIndices(w io.Writer, steps, batch int, idx []int32) error {
	if indicesFileSize(steps, batch) < 0 || len(idx) != steps*batch {
		return fmt.Errorf("indices: %d entries for %d steps × %d batch", len(idx), steps, batch)
	}
	bw := bufio.NewWriter(w)
	if err := putHeader(bw, indicesMagic, steps, batch); err != nil {
		return err
	}
	var b [4]byte
	for _, v := range idx {
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}

// decodeIndices parses indices.bin, requiring the header to match wantSteps × wantBatch (pass
// -1 to accept the file's own values) and the length to match the header exactly.
func decodeIndices(b []byte, wantSteps, wantBatch int) (steps, batch int, idx []int32, err error) {
	h, err := checkHeader(b, indicesMagic, 2)
	if err != nil {
		return 0, 0, nil, err
	}
	steps, batch = h[0], h[1]
	if wantSteps >= 0 && steps != wantSteps || wantBatch >= 0 && batch != wantBatch {
		return 0, 0, nil, fmt.Errorf("header says %d steps × %d batch, manifest says %d × %d", steps, batch, wantSteps, wantBatch)
	}
	if size := indicesFileSize(steps, batch); size < 0 || int64(len(b)) != size {
		return 0, 0, nil, fmt.Errorf("%d bytes, a %d×%d table needs %d", len(b), steps, batch, size)
	}
	idx = make([]int32, steps*batch)
	for i := range idx {
		idx[i] = int32(binary.LittleEndian.Uint32(b[indicesHeaderLen+4*i:]))
	}
	return steps, batch, idx, nil
}

func writeHashes(w io.Writer, hashes [][32]byte) error {
	bw := bufio.NewWriter(w)
	if err := putHeader(bw, hashesMagic, len(hashes)); err != nil {
		return err
	}
	for _, h := range hashes {
		bw.Write(h[:])
	}
	return bw.Flush()
}

func decodeHashes(b []byte, wantSteps int) ([][32]byte, error) {
	steps, err := checkPerStep(b, hashesMagic, wantSteps, 32, "hashes")
	if err != nil {
		return nil, err
	}
	out := make([][32]byte, steps)
	for i := range out {
		copy(out[i][:], b[hashesHeaderLen+32*i:])
	}
	return out, nil
}

// checkPerStep checks a table of one width-byte record per step (hashes.bin, augseeds.bin):
// its header, its step count against the manifest's (wantSteps < 0: unchecked) and its size;
// it returns the step count. what names the records in errors.
func checkPerStep(b []byte, magic string, wantSteps, width int, what string) (int, error) {
	h, err := checkHeader(b, magic, 1)
	if err != nil {
		return 0, err
	}
	steps := h[0]
	if wantSteps >= 0 && steps != wantSteps {
		return 0, fmt.Errorf("header says %d steps, manifest says %d", steps, wantSteps)
	}
	if size := perStepFileSize(steps, width); int64(len(b)) != size {
		return 0, fmt.Errorf("%d bytes, %d %s need %d", len(b), steps, what, size)
	}
	return steps, nil
}

func writeAugSeeds(w io.Writer, seeds []uint64) error {
	bw := bufio.NewWriter(w)
	if err := putHeader(bw, augSeedsMagic, len(seeds)); err != nil {
		return err
	}
	var b [8]byte
	for _, s := range seeds {
		binary.LittleEndian.PutUint64(b[:], s)
		bw.Write(b[:])
	}
	return bw.Flush()
}

func decodeAugSeeds(b []byte, wantSteps int) ([]uint64, error) {
	steps, err := checkPerStep(b, augSeedsMagic, wantSteps, 8, "seeds")
	if err != nil {
		return nil, err
	}
	out := make([]uint64, steps)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[augSeedsHeaderLen+8*i:])
	}
	return out, nil
}

// encodePayloadPoint appends one payload record (dim f32 values, then the label byte).
func encodePayloadPoint(dst []byte, x []float64, label int) ([]byte, error) {
	if label < 0 || label > 255 {
		return dst, fmt.Errorf("payload label %d does not fit a byte", label)
	}
	for i, v := range x {
		f := float32(v)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return dst, fmt.Errorf("payload value %d is %v (not finite as f32)", i, v)
		}
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return append(dst, byte(label)), nil
}

// payloadTable is a decoded payload.bin: raw holds count·dim f32 LE values (the data.F32
// encoding), labels one byte per point.
type payloadTable struct {
	Count, Dim int
	Raw        []byte
	Labels     []uint8
}

// decodePayload parses payload.bin, requiring dimension wantDim (or -1 for any), labels below
// classes (or any when classes <= 0) and every value finite.
func decodePayload(b []byte, wantDim, classes int) (*payloadTable, error) {
	h, err := checkHeader(b, payloadMagic, 2)
	if err != nil {
		return nil, err
	}
	count, dim := h[0], h[1]
	if wantDim >= 0 && dim != wantDim {
		return nil, fmt.Errorf("point dimension %d, the model takes %d", dim, wantDim)
	}
	if size := payloadFileSize(count, dim); size < 0 || int64(len(b)) != size {
		return nil, fmt.Errorf("%d bytes, %d points of dimension %d need %d", len(b), count, dim, size)
	}
	p := &payloadTable{Count: count, Dim: dim, Raw: make([]byte, 0, 4*count*dim), Labels: make([]uint8, count)}
	rec := int(payloadPointBytes(dim))
	for i := 0; i < count; i++ {
		r := b[payloadHeaderLen+i*rec : payloadHeaderLen+(i+1)*rec]
		vals := r[:4*dim]
		for j := 0; j < dim; j++ {
			v := math.Float32frombits(binary.LittleEndian.Uint32(vals[4*j:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("point %d value %d is %v (not finite)", i, j, v)
			}
		}
		label := r[4*dim]
		if classes > 0 && int(label) >= classes {
			return nil, fmt.Errorf("point %d has label %d, the model has %d classes", i, label, classes)
		}
		p.Raw = append(p.Raw, vals...)
		p.Labels[i] = label
	}
	return p, nil
}
