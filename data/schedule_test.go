package data

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

func TestSubSeedDefinition(t *testing.T) {
	var buf []byte
	buf = binary.LittleEndian.AppendUint64(buf, 42)
	buf = append(buf, "epoch"...)
	buf = binary.LittleEndian.AppendUint64(buf, 3)
	sum := sha256.Sum256(buf)
	if got, want := SubSeed(42, "epoch", 3), binary.LittleEndian.Uint64(sum[:8]); got != want {
		t.Errorf("SubSeed = %#x, want %#x", got, want)
	}
	if SubSeed(42, "epoch", 3) == SubSeed(42, "epoch", 4) || SubSeed(42, "epoch", 3) == SubSeed(43, "epoch", 3) ||
		SubSeed(42, "epoch", 3) == SubSeed(42, "epocj", 3) {
		t.Error("SubSeed collides on different inputs")
	}
}

func isPermutation(seg []int32, n int) bool {
	if len(seg) != n {
		return false
	}
	seen := make([]bool, n)
	for _, v := range seg {
		if v < 0 || int(v) >= n || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

func TestSchedule(t *testing.T) {
	const n, batch, epochs = 10, 4, 3
	tab := Schedule(n, batch, epochs, 7)
	// floor(3*10/4) = 7 steps: 28 of the 30 entries, the last two dropped once at the end.
	if tab.Steps != 7 || tab.Batch != batch || len(tab.Idx) != 28 {
		t.Fatalf("steps %d batch %d entries %d, want 7, 4, 28", tab.Steps, tab.Batch, len(tab.Idx))
	}
	for e := range 2 {
		if !isPermutation(tab.Idx[e*n:(e+1)*n], n) {
			t.Errorf("epoch %d segment %v is not a permutation", e, tab.Idx[e*n:(e+1)*n])
		}
	}
	// The last epoch is the same permutation as a full epoch's, truncated.
	full := Schedule(n, batch, 4, 7) // 40 entries, epoch 2 complete
	for i := 2 * n; i < 28; i++ {
		if tab.Idx[i] != full.Idx[i] {
			t.Fatalf("truncated epoch differs at %d", i)
		}
	}
	if !isPermutation(full.Idx[2*n:3*n], n) {
		t.Error("epoch 2 of the longer schedule is not a permutation")
	}
	// Row 2 covers entries 8..11, straddling the epoch boundary at 10.
	row := tab.Row(2)
	if len(row) != batch || row[0] != tab.Idx[8] || row[3] != tab.Idx[11] {
		t.Errorf("Row(2) = %v, want Idx[8:12] = %v", row, tab.Idx[8:12])
	}
	if tab.Row(7) != nil || tab.Row(-1) != nil {
		t.Error("out-of-range rows not nil")
	}
	// Same seed: same table; another seed: another table.
	again := Schedule(n, batch, epochs, 7)
	other := Schedule(n, batch, epochs, 8)
	same, diff := true, false
	for i := range tab.Idx {
		same = same && tab.Idx[i] == again.Idx[i]
		diff = diff || tab.Idx[i] != other.Idx[i]
	}
	if !same || !diff {
		t.Errorf("determinism: same seed equal %v, other seed differs %v", same, diff)
	}
	// Epochs use different permutations.
	if string(int32Bytes(tab.Idx[:n])) == string(int32Bytes(tab.Idx[n:2*n])) {
		t.Error("epochs 0 and 1 share a permutation")
	}
}

func int32Bytes(v []int32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return b
}

func TestScheduleDegenerate(t *testing.T) {
	for _, tc := range [][3]int{{0, 4, 1}, {10, 0, 1}, {10, 4, 0}, {3, 4, 1}, {-1, 1, 1}, {1 << 30, 1, 1 << 30}} {
		if tab := Schedule(tc[0], tc[1], tc[2], 1); tab.Steps != 0 || len(tab.Idx) != 0 {
			t.Errorf("Schedule%v: %d steps", tc, tab.Steps)
		}
	}
	// Batch larger than one epoch but not than all of them: rows span several epochs.
	tab := Schedule(3, 5, 4, 1) // 12 entries -> 2 steps
	if tab.Steps != 2 || !isPermutation(tab.Idx[3:6], 3) {
		t.Errorf("steps %d idx %v", tab.Steps, tab.Idx)
	}
}

// TestSchedulePermutationUniform checks that every position sees every index about equally
// often over many seeds (a biased shuffle, e.g. an argsort bug, fails this).
func TestSchedulePermutationUniform(t *testing.T) {
	const n, trials = 5, 4000
	var count [n][n]int
	for s := range trials {
		tab := Schedule(n, n, 1, uint64(s))
		for pos, v := range tab.Idx {
			count[pos][v]++
		}
	}
	exp := float64(trials) / n
	for pos := range n {
		for v := range n {
			if d := float64(count[pos][v]) - exp; d*d > 16*exp { // > 4 sigma-ish
				t.Errorf("position %d holds %d %d times, expected ~%.0f", pos, v, count[pos][v], exp)
			}
		}
	}
}

func TestBatchHash(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	want := sha256.Sum256(append(a[:], b[:]...))
	if BatchHash([][32]byte{a, b}) != want {
		t.Error("BatchHash is not SHA-256 of the concatenated point hashes")
	}
	if BatchHash([][32]byte{b, a}) == want {
		t.Error("BatchHash ignores order")
	}
}

func BenchmarkScheduleMNIST(b *testing.B) {
	for b.Loop() {
		Schedule(60000, 128, 2, 1)
	}
}
