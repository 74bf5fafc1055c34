package archtest

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot is the directory of go.mod (two levels up from this package).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// documentedOrder reads the import order line of docs/ARCHITECTURE.md: the first line after
// "Import order" that is a back-quoted chain "a → b → ...". An entry "x/*" stands for x's
// subpackages, which share one position (none imports another).
func documentedOrder(t *testing.T, root string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "Import order") {
			seen = true
			continue
		}
		if seen && strings.HasPrefix(line, "`") && strings.Contains(line, "→") {
			chain := strings.Trim(line, "`")
			var order []string
			for _, p := range strings.Split(chain, "→") {
				order = append(order, strings.TrimSpace(p))
			}
			return order
		}
	}
	t.Fatal("docs/ARCHITECTURE.md has no import order line (`a → b → ...` after \"Import order\")")
	return nil
}

// listed is `go list` of every package of the module: its path (without "pollab/") and its
// imports (non-test files).
func listed(t *testing.T, root string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkgs[strings.TrimPrefix(fields[0], "pollab/")] = fields[1:]
	}
	return pkgs
}

// position is the index of pkg in order, or -1 when the order does not place it. A package
// named in the order takes its own place before a "parent/*" entry.
func position(order []string, pkg string) int {
	for i, o := range order {
		if o == pkg {
			return i
		}
	}
	for i, o := range order {
		if parent, ok := strings.CutSuffix(o, "/*"); ok && path.Dir(pkg) == parent {
			return i
		}
	}
	return -1
}

// Outside the chain: the helpers only tests import, the test-only interop package and this one.
var unordered = map[string]bool{"internal/prooftest": true, "internal/filetest": true, "internal/labtest": true, "internal/attacktest": true, "internal/bntest": true, "internal/pynumpy": true, "internal/cifartest": true, "interop": true, "internal/archtest": true}

func TestImportOrderMatchesArchitecture(t *testing.T) {
	root := moduleRoot(t)
	order := documentedOrder(t, root)
	pkgs := listed(t, root)
	for pkg, imports := range pkgs {
		if unordered[pkg] {
			continue
		}
		at := position(order, pkg)
		if at < 0 {
			t.Errorf("package %s is not in the documented import order %v", pkg, order)
			continue
		}
		for _, imp := range imports {
			dep, ok := strings.CutPrefix(imp, "pollab/")
			if !ok {
				continue
			}
			if unordered[dep] {
				t.Errorf("%s imports %s, which only tests may use", pkg, dep)
				continue
			}
			if p := position(order, dep); p < 0 || p >= at {
				t.Errorf("%s imports %s, which is not to its left in %v", pkg, dep, order)
			}
		}
	}
	for _, o := range order {
		found := false
		for pkg := range pkgs {
			found = found || position([]string{o}, pkg) == 0
		}
		if !found {
			t.Errorf("the documented order names %s, which is no package of the module", o)
		}
	}
}

func TestOnlyAutodiffImportsGorgonia(t *testing.T) {
	for pkg, imports := range listed(t, moduleRoot(t)) {
		for _, imp := range imports {
			if strings.HasPrefix(imp, "gorgonia.org/") && pkg != "autodiff" {
				t.Errorf("%s imports %s: only autodiff may", pkg, imp)
			}
		}
	}
}

// TestExtendingShowsTheTestedFiles keeps docs/EXTENDING.md's worked examples true: every
// code block announced by a line `<!-- file: PATH -->` must be PATH's content, byte for byte,
// and PATH is a test file that `go test` compiles and runs.
func TestExtendingShowsTheTestedFiles(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "EXTENDING.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(doc), "\n")
	found := 0
	for i := 0; i < len(lines); i++ {
		name, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "<!-- file: ")
		if !ok {
			continue
		}
		name = strings.TrimSpace(strings.TrimSuffix(name, "-->"))
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Errorf("EXTENDING.md line %d: %s is not followed by a code block", i+1, name)
			continue
		}
		end := i + 2
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		block := strings.Join(lines[i+2:end], "\n") + "\n"
		want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("EXTENDING.md shows %s: %v", name, err)
			continue
		}
		if block != string(want) {
			t.Errorf("EXTENDING.md's block for %s differs from the file: copy the file into the page again", name)
		}
		if !strings.HasSuffix(name, "_test.go") {
			t.Errorf("EXTENDING.md shows %s, which is not a test file go test runs", name)
		}
		found++
		i = end
	}
	if found == 0 {
		t.Error("EXTENDING.md shows no file")
	}
}
