package data

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// SubSeed derives an independent seed for one purpose from a recorded seed: the first 8
// bytes (little-endian) of SHA-256(seed as 8 bytes LE || label || i as 8 bytes LE). Both
// integers have fixed width, so distinct (label, i) pairs never share an input.
func SubSeed(seed uint64, label string, i int) uint64 {
	buf := make([]byte, 0, 16+len(label))
	buf = binary.LittleEndian.AppendUint64(buf, seed)
	buf = append(buf, label...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(int64(i)))
	sum := sha256.Sum256(buf)
	return binary.LittleEndian.Uint64(sum[:8])
}

// pcgStream is the fixed second half of every PCG state this package creates, so that a PCG
// is determined by one recorded uint64 (the low half of the state is never all zero).
const pcgStream = 0x9E3779B97F4A7C15

// NewPCG returns the PCG generator pollab derives from one seed: rand.NewPCG(seed, pcgStream).
// math/rand/v2 fixes the PCG output stream, so this is reproducible across Go releases.
func NewPCG(seed uint64) *rand.PCG { return rand.NewPCG(seed, pcgStream) }

// NewRNG wraps NewPCG(seed) in a *rand.Rand for callers that want its convenience methods.
func NewRNG(seed uint64) *rand.Rand { return rand.New(NewPCG(seed)) }

// uniformBelow draws an integer uniform in [0, n) from src by rejection sampling on whole
// 64-bit outputs, so the result depends only on the PCG stream (not on library algorithms
// that could change). n must be positive.
func uniformBelow(src rand.Source, n uint64) uint64 {
	// Reject the lowest 2^64 mod n outputs so that the remaining range is a multiple of n.
	reject := -n % n
	for {
		r := src.Uint64()
		if r >= reject {
			return r % n
		}
	}
}
