package verifier

import "pollab/stats"

// intervalStarts lists the start checkpoint steps of ev's intervals followed by the last
// end: the checkpoint steps stats.IntervalEpochs groups.
func intervalStarts(ev *Evidence) []int {
	if len(ev.Intervals) == 0 {
		return nil
	}
	out := make([]int, 0, len(ev.Intervals)+1)
	for _, iv := range ev.Intervals {
		out = append(out, iv.Start)
	}
	return append(out, ev.Intervals[len(ev.Intervals)-1].End)
}

// epochsOf is the epoch of every interval of ev under the selection's rule: Interval.Epoch,
// which Gather computed with stats.EpochRuleStart, or the rule recomputed from ev's shape.
func (p Selection) epochsOf(ev *Evidence) []int {
	if p.EpochRule == "" || p.EpochRule == stats.EpochRuleStart {
		out := make([]int, len(ev.Intervals))
		for i, iv := range ev.Intervals {
			out[i] = iv.Epoch
		}
		return out
	}
	return stats.IntervalEpochs(p.EpochRule, intervalStarts(ev), ev.Batch, ev.DatasetSize, ev.Epochs)
}
