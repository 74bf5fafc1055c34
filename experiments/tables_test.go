package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComparisonFromRows: the "pollab vs published" table is computed from the rows: on the
// synthetic table zhang-II costs 3.1 honest steps per forged step by construction, so its
// break-even is 1/3.1 = 32.3%, next to the published 3.2%, with the setting stated.
func TestComparisonFromRows(t *testing.T) {
	rows := syntheticRows()
	cmp := Compare(rows)
	var found bool
	for _, c := range cmp {
		if c.Quantity == "zhang-II: break-even T'/T (spoofing cheaper below)" {
			found = true
			if c.Published != "3.2%" || c.Pollab != "32.3%" || !strings.Contains(c.Setting, "mlp:4-3-2:relu on synthetic") {
				t.Errorf("zhang-II break-even row %+v", c)
			}
		}
		if c.Setting == "" || c.Published == "" || c.Pollab == "" {
			t.Errorf("incomplete row %+v", c)
		}
	}
	if !found {
		t.Fatalf("no zhang-II break-even row in %+v", cmp)
	}
	md := string(ComparisonMarkdown("synthetic", cmp))
	if strings.Count(md, "\n| ") != len(cmp)+1 {
		t.Errorf("markdown has the wrong number of rows:\n%s", md)
	}
	tex := string(ComparisonLaTeX(cmp))
	for _, want := range []string{`\toprule`, `\midrule`, `\bottomrule`, `3.2\%`, `$\le$`} {
		if !strings.Contains(tex, want) {
			t.Errorf("LaTeX lacks %q:\n%s", want, tex)
		}
	}
	if strings.Count(tex, `\\`) != len(cmp)+1 {
		t.Errorf("LaTeX has %d lines for %d rows", strings.Count(tex, `\\`), len(cmp))
	}
	sum := string(Summarize(rows).LaTeX())
	if strings.Count(sum, `\\`) != len(Summarize(rows).Rows)+1 || !strings.Contains(sum, `\bottomrule`) {
		t.Errorf("summary LaTeX:\n%s", sum)
	}
}

// TestCommittedTablesRegenerateFromCSV: every committed results directory's comparison and
// LaTeX summary are exactly what its results.csv gives today.
func TestCommittedTablesRegenerateFromCSV(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the committed CSVs")
	}
	for _, name := range []string{"reference", "paper-reference", "fig4-reference", "matrix-reference", "resnet-fmnist-reference"} {
		rows := committedRows(t, name)
		dir := filepath.Join("..", "results", name)
		s := Summarize(rows)
		cmp := Compare(rows)
		files := map[string][]byte{ComparisonMD: ComparisonMarkdown(s.Experiment, cmp),
			ComparisonCSV: ComparisonCSVBytes(cmp), ComparisonTeX: ComparisonLaTeX(cmp), SummaryTeX: s.LaTeX()}
		if m := BuildMatrix(rows); m != nil {
			files[MatrixCSV], files[MatrixMD], files[MatrixTeX] = m.CSV(), m.Markdown(), m.LaTeX()
		} else if name == "matrix-reference" {
			t.Error("results/matrix-reference has no defence rows")
		}
		for file, want := range files {
			got, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil || string(got) != string(want) {
				t.Errorf("results/%s/%s is not what results.csv gives (%v); run pollab figures results/%s", name, file, err, name)
			}
		}
	}
}
