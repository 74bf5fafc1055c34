package experiments

import (
	"fmt"
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
	for _, rt := range acceptRates(fc.honestRows(at), func(r *Row) float64 { return r.DeltaNorm }) {
		pts.addRate(rt.x, 0, 1-rt.p, rt.se)
	}
	sr := Series{Label: "honest false-reject", Key: "kind:" + KindHonest, Kind: KindHonest, Env: env}
	if err := f.addSeries(p, pts, sr, kindStyle(KindHonest), false); err != nil {
		return nil, err
	}
	for _, kind := range fc.kinds {
		pts := &errPoints{}
		for _, rt := range acceptRates(fc.forgeryRows(kind, at), func(r *Row) float64 { return r.DeltaNorm }) {
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
