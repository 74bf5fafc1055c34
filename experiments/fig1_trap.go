package experiments

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
)

func init() {
	registerFigure("fig1_trap", (*figureContext).fig1Trap)
	registerFigure("fig1b_trap_by_q", (*figureContext).fig1TrapByQ)
}

// fig1Trap: the trap at the verifier's Q, one panel per reproduction env: honest
// false-reject (dashed) and every forgery's spoof-accept (solid), all verified in that env,
// against normalised delta.
func (fc *figureContext) fig1Trap() (*Figure, error) {
	f := fc.newFigure()
	var panels []*plot.Plot
	for _, env := range fc.envs {
		p, err := fc.trapPanel(f, "env "+env, env, fc.q)
		if err != nil {
			return nil, err
		}
		panels = append(panels, p)
	}
	f.Caption = fmt.Sprintf("The trap, one panel per reproduction env (%s): the honest false-reject rate (dashed) and each forgery's "+
		"spoof-accept rate (solid) against the threshold delta (%s distance over d_ref), every curve of a panel verified in that panel's env, "+
		"by a verifier re-executing %s per epoch without random audits. A delta separates a forgery only where the honest curve has "+
		"fallen to 0 before the forgery's curve rises.", strings.Join(fc.envs, ", "), fc.metric, qLabel(fc.q))
	p, err := fc.measuredPanel(f)
	if err != nil {
		return nil, err
	}
	if p != nil {
		panels = append(panels, p)
		f.Caption += " The last panel sets the honest false-reject rate of every simulated env beside honest re-executions measured " +
			"by another implementation in the same setting (" + MeasuredNoiseCSV + "), every interval re-executed."
	}
	fc.trapNotes(f)
	f.layout(panels, 3)
	return f, nil
}

// fig1TrapByQ: the trap in one env (exact when present) at every verifier Q of the grid.
func (fc *figureContext) fig1TrapByQ() (*Figure, error) {
	f := fc.newFigure()
	var panels []*plot.Plot
	for _, q := range fc.qs {
		title := "verifier checks " + qLabel(q) + " per epoch"
		if q == 0 {
			title = "verifier checks every interval"
		}
		p, err := fc.trapPanel(f, title, fc.env, q)
		if err != nil {
			return nil, err
		}
		panels = append(panels, p)
	}
	f.Caption = fmt.Sprintf("The trap in env %s at each verifier Q (intervals re-executed per epoch, %s): honest false-reject (dashed) "+
		"and each forgery's spoof-accept (solid) against the threshold delta (%s distance over d_ref), no random audits.",
		fc.env, qList(fc.qs), fc.metric)
	fc.trapNotes(f)
	f.layout(panels, 2)
	return f, nil
}

// trapPanel draws one panel of the trap: honest proofs (at the forgeries' target k) and each
// forgery kind, all verified in env at verifier Q q.
func (fc *figureContext) trapPanel(f *Figure, title, env string, q int) (*plot.Plot, error) {
	p := f.newPlot(title, fmt.Sprintf("threshold delta (%s / d_ref)", fc.metric), "rate")
	logX(p)
	rateAxis(&p.Y)
	at := func(r *Row) bool { return r.Q == q && r.Env == env && fc.sweepPoint(r) }
	pts := &errPoints{}
	for _, rt := range acceptRates(fc.honestRows(at), func(r *Row) float64 { return r.DeltaNorm() }) {
		pts.addRate(rt.x, 0, 1-rt.p, rt.se)
	}
	sr := Series{Label: "honest false-reject", Key: "kind:" + KindHonest, Kind: KindHonest, Env: env}
	if err := f.addSeries(p, pts, sr, kindStyle(KindHonest), false); err != nil {
		return nil, err
	}
	for _, kind := range fc.kinds {
		pts := &errPoints{}
		for _, rt := range acceptRates(fc.forgeryRows(kind, at), func(r *Row) float64 { return r.DeltaNorm() }) {
			pts.addRate(rt.x, 0, rt.p, rt.se)
		}
		sr := Series{Label: kind + " spoof-accept", Key: "kind:" + kind, Kind: kind, Env: env}
		if err := f.addSeries(p, pts, sr, kindStyle(kind), false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// trapNotes: how to read the trap figures, and which curves coincide (drawn on top of each
// other) in which panel.
func (fc *figureContext) trapNotes(f *Figure) {
	f.addNote(fmt.Sprintf("honest proofs at k = %d (the forgeries' targets); error bars: standard error over seeds", fc.targetK))
	f.noteCoincidences(func(s Series) string { return s.Kind })
}

// qList names the Qs of a grid, "all" for every interval.
func qList(qs []int) string {
	var out []string
	for _, q := range qs {
		if q == 0 {
			out = append(out, "all")
		} else {
			out = append(out, fmt.Sprint(q))
		}
	}
	return "Q = " + strings.Join(out, ", ")
}

// measuredPanel: the honest false-reject rate with every interval re-executed (Q = all), in
// each simulated env and over the measured re-executions of proofs at the target k (fc.measured:
// each whole re-execution counts as one honest proof, its largest interval distance over the
// run's d_ref decides it at each grid delta), and a note giving each one's honest threshold.
// nil when nothing was measured at the target k for the run's model or the grid has no Q = all.
func (fc *figureContext) measuredPanel(f *Figure) (*plot.Plot, error) {
	mi := metricIndex(fc.metric)
	if len(fc.measured) == 0 || mi == len(Metrics) || !slices.Contains(fc.qs, 0) {
		return nil, nil
	}
	at := func(r *Row) bool { return r.Q == 0 && fc.sweepPoint(r) }
	dref, grid := map[string]float64{}, map[float64]bool{}
	for _, r := range fc.honestRows(at) {
		dref[r.Model], grid[r.DeltaNorm()] = r.DRef(), true
	}
	runs := slices.DeleteFunc(measuredRuns(fc.measured, fc.targetK), func(r measuredRun) bool { return !(dref[r.model] > 0) })
	if len(runs) == 0 {
		return nil, nil
	}
	p := f.newPlot("honest: simulated vs measured", fmt.Sprintf("threshold delta (%s / d_ref)", fc.metric), "honest false-reject")
	logX(p)
	rateAxis(&p.Y)
	var thresholds []string
	for _, env := range fc.envs {
		rows := fc.honestRows(func(r *Row) bool { return at(r) && r.Env == env })
		pts, t := &errPoints{}, 0.0
		for _, rt := range acceptRates(rows, func(r *Row) float64 { return r.DeltaNorm() }) {
			pts.addRate(rt.x, 0, 1-rt.p, rt.se)
		}
		for _, r := range rows {
			t = math.Max(t, r.MaxReproNorm[mi])
		}
		st := envStyle(env)
		st.dashes = dashed
		sr := Series{Label: "honest false-reject, env " + env, Key: "env:" + env, Kind: KindHonest, Env: env}
		if err := f.addSeries(p, pts, sr, st, false); err != nil {
			return nil, err
		}
		if len(rows) > 0 {
			thresholds = append(thresholds, fmt.Sprintf("%s %.2g", env, t))
		}
	}
	pts, t := &errPoints{}, 0.0
	var spans []string // "N of steps A-B" per step range measured, in order of appearance
	perSpan := map[string]int{}
	for _, r := range runs {
		t = math.Max(t, r.maxDist[mi]/dref[r.model])
		span := fmt.Sprintf("steps %d-%d", r.start, r.end)
		if perSpan[span] == 0 {
			spans = append(spans, span)
		}
		perSpan[span]++
	}
	for i, span := range spans {
		spans[i] = fmt.Sprintf("%d of %s", perSpan[span], span)
	}
	n := float64(len(runs))
	for _, x := range sortedKeys(grid) {
		rejected := 0.0
		for _, r := range runs {
			if r.maxDist[mi]/dref[r.model] > x {
				rejected++
			}
		}
		rate := rejected / n
		pts.addRate(x, 0, rate, math.Sqrt(rate*(1-rate)/n))
	}
	sr := Series{Label: "honest false-reject, measured (another implementation)", Key: "measured", Kind: KindHonest, Env: "measured"}
	if err := f.addSeries(p, pts, sr, measuredStyle, false); err != nil {
		return nil, err
	}
	note := fmt.Sprintf("honest threshold (%s / d_ref accepting every honest proof at k = %d, every interval re-executed): %s; measured %.2g "+
		"(max over %d re-executions of proofs in this setting by another implementation, %s: %s)",
		fc.metric, fc.targetK, strings.Join(thresholds, ", "), t, len(runs), strings.Join(spans, ", "), runs[0].source)
	f.addNote(note)
	return p, nil
}
