package experiments

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"

	"pollab/internal/registry"
)

// figureContext holds the choices every figure shares, all derived from the CSV.
type figureContext struct {
	rows    []Row
	style   Style
	q       int    // the verifier's Q: the summary's (smallest positive Q in the CSV)
	metric  string // metric of the delta axes
	env     string // env used for the forgeries' curves
	targetK int    // honest proofs at this k are the ones the forgeries target
	qs      []int
	envs    []string
	kinds   []string // forgery kinds, sorted
	// matrix is the attack × defence matrix (nil when the rows have no defence rows, which
	// rows above leave out).
	matrix *Matrix
	// measured are honest re-executions measured outside pollab (MeasuredNoiseCSV), drawn by
	// fig1 beside the simulated envs; none for most results directories.
	measured []MeasuredInterval
}

func newFigureContext(all []Row, style Style) *figureContext {
	rows := withoutDefences(all)
	fc := &figureContext{rows: rows, style: style, metric: summaryMetric(rows), q: summaryQ(rows), matrix: BuildMatrix(all)}
	envSet, qSet, kindSet := map[string]bool{}, map[int]bool{}, map[string]bool{}
	kCount := map[int]int{}
	for i := range rows {
		r := &rows[i]
		envSet[r.Env], qSet[r.Q] = true, true
		if r.Kind != KindHonest {
			kindSet[r.Kind] = true
			kCount[r.TargetK]++
		}
	}
	fc.envs = sortedKeys(envSet)
	fc.kinds = sortedKeys(kindSet)
	fc.qs = sortedKeys(qSet)
	// Q = 0 (every interval) goes last: it is the strictest verifier.
	if len(fc.qs) > 0 && fc.qs[0] == 0 {
		fc.qs = append(fc.qs[1:], 0)
	}
	fc.env = "exact"
	if !envSet["exact"] && len(fc.envs) > 0 {
		fc.env = fc.envs[0]
	}
	best := -1
	for k, n := range kCount {
		if n > best || (n == best && k < fc.targetK) {
			fc.targetK, best = k, n
		}
	}
	if best < 0 { // no forgeries: the smallest honest k
		for i := range rows {
			if rows[i].Kind == KindHonest && (fc.targetK == 0 || rows[i].K < fc.targetK) {
				fc.targetK = rows[i].K
			}
		}
	}
	return fc
}

func sortedKeys[K string | int | float64](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func qLabel(q int) string {
	if q == 0 {
		return "every interval"
	}
	return fmt.Sprintf("top-%d", q)
}

// rate is the fraction of proofs accepted among rows sharing an x value, with its standard
// error over proofs (seeds).
type rate struct {
	x, p, se float64
	n        int
}

// acceptRates groups rows by x(row) and returns per x the accept rate over distinct proofs.
func acceptRates(rows []*Row, x func(*Row) float64) []rate {
	type acc struct{ yes, n int }
	by := map[float64]*acc{}
	for _, r := range rows {
		a := by[x(r)]
		if a == nil {
			a = &acc{}
			by[x(r)] = a
		}
		a.n++
		if r.Accepted {
			a.yes++
		}
	}
	var out []rate
	for xv, a := range by {
		p := float64(a.yes) / float64(a.n)
		out = append(out, rate{x: xv, p: p, se: math.Sqrt(p * (1 - p) / float64(a.n)), n: a.n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].x < out[j].x })
	return out
}

// spread is the mean, min and max of values sharing an x.
type spread struct{ x, mean, lo, hi float64 }

func spreads(pts map[float64][]float64) []spread {
	var out []spread
	for x, vs := range pts {
		vs = slices.Clone(vs)
		slices.Sort(vs) // a fixed summation order, whatever order the rows came in
		s := spread{x: x, lo: math.Inf(1), hi: math.Inf(-1)}
		for _, v := range vs {
			s.mean += v
			s.lo, s.hi = math.Min(s.lo, v), math.Max(s.hi, v)
		}
		s.mean /= float64(len(vs))
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].x < out[j].x })
	return out
}

// figureEntry is one registered figure: its name (the file stem) and its builder.
type figureEntry struct {
	name  string
	build func(*figureContext) (*Figure, error)
}

// figureRegistry holds every figure, registered by the init function of its own file.
var figureRegistry = registry.New[figureEntry]("experiments: figures")

// registerFigure adds a figure under name; a second registration of a name is a programming
// error.
func registerFigure(name string, build func(*figureContext) (*Figure, error)) {
	figureRegistry.Register(name, figureEntry{name: name, build: build})
}

// FigureNames returns the registered figures' names in drawing order (sorted by name).
func FigureNames() []string { return figureRegistry.Sorted() }

// newFigure is an empty figure in the context's style.
func (fc *figureContext) newFigure() *Figure { return &Figure{style: fc.style} }

// BuildFigure builds the named figure from results rows alone (and the measured
// re-executions of the run's setting, if any), in the given style; a figure without data has
// Points 0 and no panels.
func BuildFigure(name string, rows []Row, style Style, measured ...MeasuredInterval) (*Figure, error) {
	e, ok := figureRegistry.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown figure %q (have %s)", name, strings.Join(FigureNames(), ", "))
	}
	fc := newFigureContext(rows, style)
	fc.measured = measured
	return fc.build(e)
}

// BuildFigures builds every registered figure that has data in rows (a figure the CSV holds
// nothing for is left out, not drawn empty).
func BuildFigures(rows []Row, style Style, measured ...MeasuredInterval) ([]*Figure, error) {
	fc := newFigureContext(rows, style)
	fc.measured = measured
	var figs []*Figure
	for _, name := range FigureNames() {
		e, _ := figureRegistry.Lookup(name)
		f, err := fc.build(e)
		if err != nil {
			return nil, err
		}
		if f.Points > 0 {
			figs = append(figs, f)
		}
	}
	return figs, nil
}

// build runs one figure's builder, drops the panels that drew nothing and prepares log axes.
func (fc *figureContext) build(e figureEntry) (*Figure, error) {
	f, err := e.build(fc)
	if err != nil {
		return nil, fmt.Errorf("figure %s: %w", e.name, err)
	}
	f.Name = e.name
	var grid [][]*plot.Plot
	dropped := false
	for _, row := range f.Panels {
		var kept []*plot.Plot
		for _, p := range row {
			if f.panelPoints[p] == 0 {
				dropped = true
				continue
			}
			widenLogAxis(&p.X)
			widenLogAxis(&p.Y)
			kept = append(kept, p)
		}
		if len(kept) > 0 {
			grid = append(grid, kept)
		}
	}
	f.Panels = grid
	if dropped {
		f.sizeGrid()
	}
	return f, nil
}

// select returns the rows matching keep.
func (fc *figureContext) selectRows(keep func(*Row) bool) []*Row {
	var out []*Row
	for i := range fc.rows {
		if keep(&fc.rows[i]) {
			out = append(out, &fc.rows[i])
		}
	}
	return out
}

// forgeryRows keeps, for kinds crafted at several gaps, the proofs crafted at Fang et al.'s
// 0.008 when present, so a curve is one attack configuration.
func (fc *figureContext) forgeryRows(kind string, keep func(*Row) bool) []*Row {
	rows := fc.selectRows(func(r *Row) bool { return r.Kind == kind && keep(r) })
	if slices.ContainsFunc(rows, func(r *Row) bool { return r.AttackDelta == ReferenceNormalizedDelta }) {
		rows = slices.DeleteFunc(rows, func(r *Row) bool { return r.AttackDelta != ReferenceNormalizedDelta })
	}
	return rows
}

func (fc *figureContext) honestRows(keep func(*Row) bool) []*Row {
	return fc.selectRows(func(r *Row) bool { return r.Kind == KindHonest && r.K == fc.targetK && keep(r) })
}

// sweepPoint: a normalised-delta point of the summary metric, without audits.
func (fc *figureContext) sweepPoint(r *Row) bool {
	return r.Metric() == fc.metric && r.Normalized() && r.Audit == 0
}

// DrawFigures builds every figure with data from rows (and measured, if any) and writes each
// under dir as NAME.{png,svg,pdf} with its caption NAME.md; files of registered figures the
// rows hold no data for are removed, so a redraw never leaves a stale figure behind.
func DrawFigures(rows []Row, dir string, style Style, measured ...MeasuredInterval) ([]*Figure, error) {
	figs, err := BuildFigures(rows, style, measured...)
	if err != nil {
		return nil, err
	}
	for _, f := range figs {
		if _, err := f.Save(dir); err != nil {
			return nil, err
		}
	}
	for _, name := range FigureNames() {
		if slices.ContainsFunc(figs, func(f *Figure) bool { return f.Name == name }) {
			continue
		}
		for _, ext := range append(slices.Clone(FigureFormats), "md") {
			if err := os.Remove(filepath.Join(dir, name+"."+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	return figs, nil
}
