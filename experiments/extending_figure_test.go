package experiments

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

// BEGIN example: a new figure (docs/EXTENDING.md quotes this block verbatim)

// figCheckpoints: the checkpoints each proof kind holds against the steps it claims, one
// curve per kind (mean over its proofs at each length).
func (fc *figureContext) figCheckpoints() (*Figure, error) {
	f := fc.newFigure()
	p := f.newPlot("checkpoints per proof", "claimed steps (T or T')", "checkpoints")
	logX(p)
	for _, kind := range append([]string{KindHonest}, fc.kinds...) {
		seen, bySteps := map[string]bool{}, map[float64][]float64{}
		for _, r := range fc.selectRows(func(r *Row) bool { return r.Kind == kind }) {
			if !seen[r.ProofID] {
				seen[r.ProofID] = true
				bySteps[float64(r.Steps)] = append(bySteps[float64(r.Steps)], float64(r.Checkpoints))
			}
		}
		pts := &errPoints{}
		for _, s := range spreads(bySteps) {
			pts.add(s.x, s.mean, 0, 0, s.mean-s.lo, s.hi-s.mean)
		}
		// The kind's fixed colour and marker, the same as in every other figure.
		sr := Series{Label: kind, Key: "kind:" + kind, Kind: kind}
		if err := f.addSeries(p, pts, sr, kindStyle(kind), false); err != nil {
			return nil, err
		}
	}
	f.Caption = "Checkpoints in each proof against the steps it claims, per proof kind; mean over proofs, error bars min to max."
	f.addNote("error bars: min-max over proofs")
	f.layout([]*plot.Plot{p}, 1)
	return f, nil
}

// END example

// TestExtendingFigureExample registers the example figure as its own file would (in the real
// file: func init() { registerFigure("fig7_checkpoints", (*figureContext).figCheckpoints) }),
// checks its data against the CSV and draws it with its caption.
func TestExtendingFigureExample(t *testing.T) {
	registerFigure("fig7_checkpoints", (*figureContext).figCheckpoints)
	t.Cleanup(func() { figureRegistry.Remove("fig7_checkpoints") })
	rows := syntheticRows()
	f, err := BuildFigure("fig7_checkpoints", rows, testStyle())
	if err != nil {
		t.Fatal(err)
	}
	// Every plotted mean is the mean of the checkpoints column over that kind's proofs at that
	// length, counted here from the rows.
	for _, s := range f.Data {
		for i, x := range s.X {
			sum, n, seen := 0.0, 0, map[string]bool{}
			for _, r := range rows {
				if r.Kind == s.Kind && float64(r.Steps) == x && !seen[r.ProofID] {
					seen[r.ProofID] = true
					sum += float64(r.Checkpoints)
					n++
				}
			}
			if n == 0 || s.Y[i] != sum/float64(n) {
				t.Errorf("%s at %v steps: drawn %v, CSV mean %v over %d proofs", s.Kind, x, s.Y[i], sum/float64(n), n)
			}
		}
	}
	if len(f.Data) != 1+len(newFigureContext(rows, testStyle()).kinds) {
		t.Errorf("%d curves", len(f.Data))
	}
	dir := t.TempDir()
	if _, err := DrawFigures(rows, dir, testStyle()); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "fig7_checkpoints.md"))
	if err != nil || !strings.Contains(string(md), "Checkpoints in each proof") {
		t.Errorf("caption: %v\n%s", err, md)
	}
	if !slices.Contains(FigureNames(), "fig7_checkpoints") {
		t.Error("example figure not listed")
	}
}

// TestExtendingDocQuotesTheExample: the figure section of docs/EXTENDING.md shows exactly the
// example above, so the page cannot drift from code that compiles and passes.
func TestExtendingDocQuotesTheExample(t *testing.T) {
	src, err := os.ReadFile("extending_figure_test.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "EXTENDING.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(src), "// BEGIN example: a new figure (docs/EXTENDING.md quotes this block verbatim)\n")
	block, _, _ = strings.Cut(block, "// END example")
	block = strings.TrimSpace(block)
	if block == "" || !strings.Contains(string(doc), "```go\n"+block+"\n```") {
		t.Fatalf("docs/EXTENDING.md does not quote the example figure of extending_figure_test.go verbatim")
	}
}
