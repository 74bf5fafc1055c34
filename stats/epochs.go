package stats

import (
	"math"

	"pollab/internal/enum"
)

// Epoch rules: how Top-Q groups the intervals between consecutive checkpoints into epochs
// before ranking them (the verifier's Selection.EpochRule). Both number epochs from 0.
const (
	// EpochRuleStart is pollab's rule (the default): interval i, which starts at step s_i,
	// is in epoch floor(s_i·B/N), the epoch whose permutation holds the first point of the
	// interval's first batch. With the global drop-last a batch can straddle two epochs; the
	// rule follows the data, not the count of checkpoints, and every interval is in an epoch.
	EpochRuleStart = "start"
	// EpochRuleVerifyPy is Jia et al.'s reference verify.py (verify_topq): with
	// c = T/E/k checkpoint intervals per epoch (a real number; T steps, E the declared
	// epochs, k the checkpoint interval), epoch e holds intervals round(c·e) ≤ i <
	// round(c·(e+1)), rounded half to even as numpy's np.round, computed in float64 as
	// (T/E)/k·e. Boundaries then follow the count of intervals rather than the data: on
	// MNIST (N 60,000, B 128, E 2, T 937, k 50) interval 9 (steps 450-500, whose first batch
	// is in epoch 0) is in epoch 1. When T/k has a fractional part below one half, the last
	// (short) interval is in no epoch (round(c·E) = floor(T/k)): verify.py never ranks or
	// re-executes it, and neither does this rule (its epoch is -1).
	EpochRuleVerifyPy = "verify.py"
)

// EpochRules lists the accepted rules, the default first.
var EpochRules = []string{EpochRuleStart, EpochRuleVerifyPy}

// ParseEpochRule reads an epoch rule name; "" is EpochRuleStart.
func ParseEpochRule(s string) (string, error) { return enum.Choice("epoch rule", s, EpochRules...) }

// IntervalEpochs is the one epoch rule of pollab: the epoch of every interval between
// consecutive checkpoints ckpts (steps 0, k, 2k, ..., T, as proof.CheckpointSteps lists
// them) under rule, for batch size B, dataset size N and declared epochs E (used only by
// EpochRuleVerifyPy). An interval in no epoch gets -1. The verifier's Top-Q and the
// Blindfold attack both group intervals with it, so it lives here, below both. Arguments that are not positive, or an
// unknown rule, give every interval -1.
func IntervalEpochs(rule string, ckpts []int, batch, n, epochs int) []int {
	out := make([]int, max(len(ckpts)-1, 0))
	for i := range out {
		out[i] = -1
	}
	if batch <= 0 || n <= 0 || len(out) == 0 {
		return out
	}
	switch rule {
	case "", EpochRuleStart:
		for i := range out {
			out[i] = int(int64(ckpts[i]) * int64(batch) / int64(n))
		}
	case EpochRuleVerifyPy:
		steps := ckpts[len(ckpts)-1]
		k := ckpts[1] - ckpts[0]
		if epochs <= 0 || k <= 0 {
			return out
		}
		c := float64(steps) / float64(epochs) / float64(k)
		for e := 0; e < epochs; e++ {
			lo := int(math.RoundToEven(c * float64(e)))
			hi := int(math.RoundToEven(c * float64(e+1)))
			for i := max(lo, 0); i < min(hi, len(out)); i++ {
				out[i] = e
			}
		}
	}
	return out
}
