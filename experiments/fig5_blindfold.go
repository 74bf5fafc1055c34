package experiments

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

func init() { registerFigure("fig5_blindfold", (*figureContext).fig5Blindfold) }

// nearestDelta returns the grid value closest (in log) to want among the given rows; of two
// equally close values, the tighter.
func nearestDelta(rows []*Row, want float64) float64 {
	best, bestD := math.NaN(), math.Inf(1)
	for _, r := range rows {
		if !(r.DeltaNorm() > 0) {
			continue
		}
		d := math.Abs(math.Log(r.DeltaNorm() / want))
		if d < bestD || (d == bestD && r.DeltaNorm() < best) {
			best, bestD = r.DeltaNorm(), d
		}
	}
	return best
}

// fig5DeltaFactors place fig5's panels, as multiples of Fang et al.'s normalised 0.008: two
// halvings below it (where audits can catch Blindfold) and one doubling above. Fixed
// multiples rather than data-driven ones, so the panels mean the same in every run; each is
// drawn at the grid value nearest to it.
var fig5DeltaFactors = []float64{0.25, 0.5, 1, 2}

// fig5PanelDeltas returns the grid deltas nearest (in log) to each of fig5's wanted deltas,
// ascending, each once (a coarse grid may map two wanted deltas to one value).
func fig5PanelDeltas(rows []*Row) (wanted, grid []float64) {
	for _, f := range fig5DeltaFactors {
		w := ReferenceNormalizedDelta * f
		wanted = append(wanted, w)
		if d := nearestDelta(rows, w); !math.IsNaN(d) && !slices.Contains(grid, d) {
			grid = append(grid, d)
		}
	}
	slices.Sort(grid)
	return wanted, grid
}

// honestRejections maps each normalised grid delta to whether some honest row there (proofs
// at the target k, any Q and audit count) is rejected.
func honestRejections(rows []*Row) map[float64]bool {
	rejected := map[float64]bool{}
	for _, r := range rows {
		rejected[r.DeltaNorm()] = rejected[r.DeltaNorm()] || !r.Accepted
	}
	return rejected
}

// tightestHonestDelta is the smallest grid delta from which on every honest row is accepted:
// the tightest delta a verifier of this env can afford. NaN when some honest proof fails even
// the loosest delta, or there are no honest rows.
func tightestHonestDelta(rejected map[float64]bool) float64 {
	deltas := slices.Collect(maps.Keys(rejected))
	slices.Sort(deltas)
	best := math.NaN()
	for i := len(deltas) - 1; i >= 0 && !rejected[deltas[i]]; i-- {
		best = deltas[i]
	}
	return best
}

// fig5XLabel is short enough for a quarter of the text width.
const fig5XLabel = "verifier's Q (intervals / epoch)"

// fig5Blindfold: Blindfold spoof-accept against the verifier's Q, with and without random
// audits, one panel per delta (see fig5DeltaFactors): audits catch Blindfold only where the
// delta is tighter than what an untrained interval moves when re-executed.
func (fc *figureContext) fig5Blindfold() (*Figure, error) {
	f := fc.newFigure()
	rows := fc.forgeryRows(KindBlindfold, func(r *Row) bool {
		return r.Env == fc.env && r.Metric() == fc.metric && r.Normalized()
	})
	wanted, deltas := fig5PanelDeltas(rows)
	honestRejected := honestRejections(fc.honestRows(func(r *Row) bool {
		return r.Env == fc.env && r.Metric() == fc.metric && r.Normalized()
	}))
	honestSafe := tightestHonestDelta(honestRejected)
	// Q = 0 (every interval) is drawn one past the largest Q.
	maxQ := 0
	for _, q := range fc.qs {
		maxQ = max(maxQ, q)
	}
	allX := float64(maxQ + 1)
	qx := func(q int) float64 {
		if q == 0 {
			return allX
		}
		return float64(q)
	}
	var ticks []plot.Tick
	for _, q := range fc.qs {
		lbl := strconv.Itoa(q)
		if q == 0 {
			lbl = "all"
		}
		ticks = append(ticks, plot.Tick{Value: qx(q), Label: lbl})
	}
	attackerQ, audits := map[int]bool{}, map[int]bool{}
	for _, r := range rows {
		attackerQ[r.AttackQ], audits[r.Audit] = true, true
	}
	var panels []*plot.Plot
	for _, delta := range deltas {
		title := fmt.Sprintf("delta = %g %s/d_ref", delta, fc.metric)
		if honestRejected[delta] {
			title += " (rejects honest)"
		}
		p := f.newPlot(title, fig5XLabel, "spoof-accept rate")
		rateAxis(&p.Y)
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.X.Min, p.X.Max = 0.5, allX+0.5
		// Curves of different audit counts often coincide (all 0 or all 1): they are drawn
		// unshifted with nested hollow markers, the first audit count's largest.
		for i, a := range sortedKeys(audits) {
			rates := acceptRates(slices.DeleteFunc(slices.Clone(rows), func(r *Row) bool { return r.Audit != a || r.DeltaNorm() != delta }),
				func(r *Row) float64 { return qx(r.Q) })
			ep := &errPoints{}
			for _, rt := range rates {
				ep.addRate(rt.x, 0, rt.p, rt.se)
			}
			label := "top-Q only, no random audit"
			if a > 0 {
				label = fmt.Sprintf("top-Q + %d random audits per epoch", a)
				if a == 1 {
					label = "top-Q + 1 random audit per epoch"
				}
			}
			sr := Series{Label: label, Key: fmt.Sprintf("rank:%d", i), Kind: KindBlindfold, Env: fc.env}
			if err := f.addSeries(p, ep, sr, orderedStyle(i), false); err != nil {
				return nil, err
			}
		}
		panels = append(panels, p)
	}
	var ws []string
	for _, w := range wanted {
		ws = append(ws, strconv.FormatFloat(w, 'g', -1, 64))
	}
	f.addNote(fmt.Sprintf("env %s; panels at the grid deltas nearest %s %s/d_ref (Fang et al.'s %g, halved twice, doubled)",
		fc.env, strings.Join(ws, ", "), fc.metric, ReferenceNormalizedDelta))
	if !math.IsNaN(honestSafe) {
		tightest := ""
		if honestSafe == slices.Min(slices.Collect(maps.Keys(honestRejected))) {
			tightest = " (the grid's tightest)"
		}
		f.addNote(fmt.Sprintf("honest proofs (k = %d) of env %s: all accepted at every Q and audit count from delta = %g up%s",
			fc.targetK, fc.env, honestSafe, tightest))
	}
	var aq []string
	for _, q := range sortedKeys(attackerQ) {
		aq = append(aq, strconv.Itoa(q))
	}
	if len(aq) > 0 {
		f.addNote(fmt.Sprintf("attacker's genuine intervals per epoch q = %s", strings.Join(aq, ", ")))
	}
	f.addNote("error bars: standard error over seeds and attacker q; coinciding audit curves drawn as nested markers, none shifted")
	f.Caption = fmt.Sprintf("Blindfold Top-Q against random audits: the fraction of Blindfold proofs accepted against the verifier's Q "+
		"(intervals re-executed per epoch, 'all' = every interval), one curve per number of random audit intervals per epoch drawn "+
		"after the proof is committed, one panel per threshold delta (%s / d_ref), env %s.", fc.metric, fc.env)
	f.layout(panels, len(fig5DeltaFactors))
	return f, nil
}
