package proof

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// SeedCommitment is the prover's commitment to its root seeds (Choi, Shavit and Duvenaud,
// NeurIPS 2023): SHA256 = CommitSeeds(seeds, Nonce), made before training with a nonce the
// verifier supplies or the task fixes, so the seeds (and with them W0 and the batch table,
// which derive from them) were fixed before training began. Optional in the manifest.
type SeedCommitment struct {
	Nonce  string `json:"nonce"`
	SHA256 string `json:"sha256"` // 64 lowercase hex digits
}

// MaxNonceBytes bounds a commitment's nonce.
const MaxNonceBytes = 256

// commitmentDomain separates seed commitments from every other hash.
const commitmentDomain = "pollab-seed-commitment/1\n"

// CommitSeeds is the hex SHA-256 of the domain "pollab-seed-commitment/1\n", the nonce's
// byte length (u64 little-endian), the nonce's bytes, then seeds.init, seeds.data and
// seeds.augment (u64 little-endian each).
func CommitSeeds(s Seeds, nonce string) string {
	h := sha256.New()
	h.Write([]byte(commitmentDomain))
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(len(nonce)))
	b = append(b, nonce...)
	for _, v := range []uint64{s.Init, s.Data, s.Augment} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// CheckNonce accepts a non-empty nonce of at most MaxNonceBytes bytes of printable UTF-8.
func CheckNonce(nonce string) error {
	switch {
	case nonce == "":
		return fmt.Errorf("commitment nonce is empty")
	case len(nonce) > MaxNonceBytes:
		return fmt.Errorf("commitment nonce of %d bytes: at most %d", len(nonce), MaxNonceBytes)
	case !utf8.ValidString(nonce):
		return fmt.Errorf("commitment nonce %q is not UTF-8", nonce)
	}
	for _, r := range nonce {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("commitment nonce %q holds a non-printable character", nonce)
		}
	}
	return nil
}

// validate checks the commitment's form (not that it matches the seeds: the verifier's
// commitment check does that).
func (c *SeedCommitment) validate() error {
	if err := CheckNonce(c.Nonce); err != nil {
		return err
	}
	if len(c.SHA256) != 64 {
		return fmt.Errorf("commitment sha256 %q: want 64 lowercase hex digits", c.SHA256)
	}
	for _, r := range c.SHA256 {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return fmt.Errorf("commitment sha256 %q: want 64 lowercase hex digits", c.SHA256)
		}
	}
	return nil
}
