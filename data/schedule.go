package data

import (
	"crypto/sha256"
	"math"
)

// Table is the PoL batch schedule: Steps rows of Batch indices. Entries i >= 0 index the
// declared dataset; entries i < 0 index a proof's payload (point -i-1).
type Table struct {
	Steps, Batch int
	Idx          []int32 // row t = Idx[t*Batch:(t+1)*Batch]
}

// Row returns the indices of step t (a view into the table), or nil when t is out of range.
func (t Table) Row(step int) []int32 {
	if step < 0 || step >= t.Steps || t.Batch <= 0 || (step+1)*t.Batch > len(t.Idx) {
		return nil
	}
	return t.Idx[step*t.Batch : (step+1)*t.Batch : (step+1)*t.Batch]
}

// ScheduleSteps is the number of steps Schedule produces: floor(epochs*n/batch), or 0 when an
// argument is not positive or the schedule would not fit in int32 indices.
func ScheduleSteps(n, batch, epochs int) int {
	if n <= 0 || batch <= 0 || epochs <= 0 || n > math.MaxInt32 || epochs > math.MaxInt32/n {
		return 0
	}
	return epochs * n / batch
}

// Schedule builds the batch table of Jia et al.'s PoL: for each epoch e a uniform random
// permutation of [0, n), drawn by Fisher-Yates from NewPCG(SubSeed(seed, "epoch", e)) (for
// j = n-1 down to 1, swap j with uniform [0, j]), the epochs concatenated, truncated once to
// floor(epochs*n/batch)*batch (a global drop-last, so a batch may straddle two epochs) and cut
// into rows of batch. Arguments that are not positive, or a total over MaxInt32 entries, give
// an empty table.
func Schedule(n, batch, epochs int, seed uint64) Table {
	steps := ScheduleSteps(n, batch, epochs)
	if steps == 0 {
		return Table{Batch: max(batch, 0)}
	}
	total := steps * batch
	idx := make([]int32, 0, total)
	perm := make([]int32, n)
	for e := 0; len(idx) < total; e++ {
		for i := range perm {
			perm[i] = int32(i)
		}
		src := NewPCG(SubSeed(seed, "epoch", e))
		for j := n - 1; j > 0; j-- {
			k := uniformBelow(src, uint64(j+1))
			perm[j], perm[k] = perm[k], perm[j]
		}
		idx = append(idx, perm[:min(n, total-len(idx))]...)
	}
	return Table{Steps: steps, Batch: batch, Idx: idx}
}

// BatchHash is SHA-256 over the per-point hashes of one batch, in order.
func BatchHash(pointHashes [][32]byte) [32]byte {
	h := sha256.New()
	for _, ph := range pointHashes {
		h.Write(ph[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
