package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the number of
// dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
	idxTypeUbyte   = 0x08
	idxMaxDims     = 4
)

// maxIDXBody bounds the decompressed body of one IDX file (MNIST's largest is 47 MB), so a
// gzip bomb or a lying header cannot exhaust memory.
const maxIDXBody = 1 << 28

// idxFile is a parsed IDX file of unsigned bytes.
type idxFile struct {
	magic uint32
	dims  []int
	body  []byte // prod(dims) bytes, row-major
}

// decodeIDX parses an IDX stream of unsigned bytes, gzip-compressed or not (detected by the
// gzip magic). A nonzero wantMagic is checked before anything else is read. The body may hold
// at most limit bytes. The header must describe the body
// exactly: a short body, trailing bytes, a bad gzip checksum, a non-ubyte type or zero
// dimensions are errors. Memory grows only with the bytes actually read.
func decodeIDX(r io.Reader, limit int, wantMagic uint32) (*idxFile, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	var hdr [4]byte
	if _, err := io.ReadFull(src, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading IDX magic: %w", eofAsUnexpected(err))
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	if wantMagic != 0 && magic != wantMagic {
		return nil, fmt.Errorf("bad IDX magic %#08x, want %#08x (%s)", magic, wantMagic, idxKind(wantMagic))
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, fmt.Errorf("bad IDX magic %#08x: first two bytes must be zero", magic)
	}
	if hdr[2] != idxTypeUbyte {
		return nil, fmt.Errorf("bad IDX magic %#08x: element type %#02x, want unsigned byte (0x08)", magic, hdr[2])
	}
	nd := int(hdr[3])
	if nd < 1 || nd > idxMaxDims {
		return nil, fmt.Errorf("bad IDX magic %#08x: %d dimensions, want 1..%d", magic, nd, idxMaxDims)
	}
	dimBytes := make([]byte, 4*nd)
	if _, err := io.ReadFull(src, dimBytes); err != nil {
		return nil, fmt.Errorf("reading %d IDX dimensions: %w", nd, eofAsUnexpected(err))
	}
	dims := make([]int, nd)
	need := 1
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if d == 0 {
			return nil, fmt.Errorf("IDX dimension %d is zero", i)
		}
		if uint64(d) > uint64(limit) || need > limit/int(d) {
			return nil, fmt.Errorf("IDX dimensions %v declare more than the %d data bytes allowed (truncated file or wrong dimensions)", dimsSoFar(dimBytes, i+1), limit)
		}
		dims[i] = int(d)
		need *= int(d)
	}
	body, err := readExactly(src, need)
	if err != nil {
		return nil, fmt.Errorf("IDX header %v declares %d data bytes: %w", dims, need, err)
	}
	return &idxFile{magic: magic, dims: dims, body: body}, nil
}

// dimsSoFar decodes the first n big-endian dimensions for an error message.
func dimsSoFar(b []byte, n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return out
}

// readExactly reads exactly n bytes and then requires end of stream (which, for gzip, also
// verifies the checksum). The buffer grows with the data actually present, never to n up front.
func readExactly(r io.Reader, n int) ([]byte, error) {
	const chunk = 1 << 20
	buf := make([]byte, 0, min(n, chunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			if len(buf) < n {
				return nil, fmt.Errorf("truncated: only %d bytes present: %w", len(buf), io.ErrUnexpectedEOF)
			}
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated compressed data after %d bytes: %w", len(buf), err)
		}
		if err != nil {
			return nil, fmt.Errorf("after %d bytes: %w", len(buf), err)
		}
	}
	var one [1]byte
	for {
		m, err := r.Read(one[:])
		if m > 0 {
			return nil, errors.New("trailing bytes: more data than the header declares (wrong dimensions or corrupt file)")
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("at end of data: %w", err)
		}
	}
}

// eofAsUnexpected reports a clean EOF inside a header as truncation.
func eofAsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// idxKind names what an IDX magic number holds.
func idxKind(magic uint32) string {
	switch magic {
	case idxImagesMagic:
		return "images"
	case idxLabelsMagic:
		return "labels"
	}
	return "unknown"
}

// readIDXFile opens and parses one IDX file (plain or .gz) with the given magic; errors name
// the file.
func readIDXFile(path string, wantMagic uint32) (*idxFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := maxIDXBody
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && !isGzipName(path) && st.Size() < int64(limit) {
		limit = int(st.Size()) // an uncompressed body cannot exceed the file
	}
	if limit > 16 {
		limit -= 8 // at least magic and one dimension precede the body
	}
	idx, err := decodeIDX(f, limit, wantMagic)
	if err != nil {
		return nil, fmt.Errorf("IDX file %s: %w", path, err)
	}
	return idx, nil
}

func isGzipName(path string) bool {
	return len(path) > 3 && path[len(path)-3:] == ".gz"
}

// idxImages checks that f holds images of rows×cols bytes and returns their count.
func idxImages(f *idxFile, rows, cols int) (int, error) {
	if f.magic != idxImagesMagic {
		return 0, fmt.Errorf("magic %#08x, want %#08x (images)", f.magic, idxImagesMagic)
	}
	if len(f.dims) != 3 || f.dims[1] != rows || f.dims[2] != cols {
		return 0, fmt.Errorf("image dimensions %v, want [N %d %d]", f.dims, rows, cols)
	}
	return f.dims[0], nil
}

// idxLabels checks that f holds labels below classes and returns their count.
func idxLabels(f *idxFile, classes int) (int, error) {
	if f.magic != idxLabelsMagic {
		return 0, fmt.Errorf("magic %#08x, want %#08x (labels)", f.magic, idxLabelsMagic)
	}
	if len(f.dims) != 1 {
		return 0, fmt.Errorf("label dimensions %v, want [N]", f.dims)
	}
	for i, y := range f.body {
		if int(y) >= classes {
			return 0, fmt.Errorf("label %d of point %d, want < %d", y, i, classes)
		}
	}
	return f.dims[0], nil
}

// loadIDXPair reads an images file and a labels file and checks that they agree.
func loadIDXPair(imagesPath, labelsPath string, rows, cols, classes int) (raw, labels []byte, err error) {
	imgs, err := readIDXFile(imagesPath, idxImagesMagic)
	if err != nil {
		return nil, nil, err
	}
	n, err := idxImages(imgs, rows, cols)
	if err != nil {
		return nil, nil, fmt.Errorf("IDX file %s: %w", imagesPath, err)
	}
	labs, err := readIDXFile(labelsPath, idxLabelsMagic)
	if err != nil {
		return nil, nil, err
	}
	m, err := idxLabels(labs, classes)
	if err != nil {
		return nil, nil, fmt.Errorf("IDX file %s: %w", labelsPath, err)
	}
	if n != m {
		return nil, nil, fmt.Errorf("IDX files %s and %s: %d images but %d labels", imagesPath, labelsPath, n, m)
	}
	return imgs.body, labs.body, nil
}
