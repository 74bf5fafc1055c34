package data

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// ExportHeader is the JSON header of an exported dataset (see Export).
type ExportHeader struct {
	Name        string `json:"name"`
	Shape       []int  `json:"shape"`
	Classes     int    `json:"classes"`
	N           int    `json:"n"`
	Encoding    string `json:"encoding"`    // "u8" (feature = byte/255) or "f32" (little-endian float32)
	Fingerprint string `json:"fingerprint"` // hex of Fingerprint()
}

// Export writes d exactly as pollab sees it, for another implementation (python/pollab_torch)
// to train on the same bytes and recompute the same point hashes and fingerprint:
//
//	"PLDS" u32 version 1, u32 header length H, H bytes of JSON (ExportHeader),
//	then Len() raw points of PointBytes() bytes, then Len() label bytes.
func Export(w io.Writer, d *Dataset) error {
	fp := d.Fingerprint()
	h, err := json.Marshal(ExportHeader{Name: d.Name, Shape: d.Shape, Classes: d.Classes, N: d.Len(),
		Encoding: d.Enc.String(), Fingerprint: fmt.Sprintf("%x", fp[:])})
	if err != nil {
		return fmt.Errorf("export %s: %w", d.Name, err)
	}
	head := binary.LittleEndian.AppendUint32([]byte("PLDS"), 1)
	head = binary.LittleEndian.AppendUint32(head, uint32(len(h)))
	for _, b := range [][]byte{head, h, d.raw, d.labels} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("export %s: %w", d.Name, err)
		}
	}
	return nil
}
