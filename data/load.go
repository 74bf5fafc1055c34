package data

import (
	"fmt"
	"pollab/internal/enum"
	"strings"
	"sync"
)

// Split selects the training or the test part of a dataset.
type Split int

const (
	Train Split = iota
	Test
)

// String names the split ("train", "test").
func (s Split) String() string { return splits.String(s) }

var splits = enum.Table[Split]{Type: "Split",
	Values: []enum.Value[Split]{enum.V(Train, "train"), enum.V(Test, "test")}}

// Load returns the named dataset's split. Names (canonical forms in Dataset.Name):
//
//	mnist                  60000/10000 points [1 28 28], 10 classes, from the GoMNIST module
//	                       directory or $POLLAB_MNIST_DIR
//	fashion-mnist          same layout, from /usr/share/datasets/fashion-mnist (Debian package
//	                       dataset-fashion-mnist) or $POLLAB_FASHION_DIR
//	cifar10                50000/10000 points [3 32 32], 10 classes, binary batches in
//	                       $POLLAB_CIFAR_DIR
//	cifar100               50000/10000 points [3 32 32], 100 fine classes, train.bin/test.bin in
//	                       $POLLAB_CIFAR100_DIR (else $POLLAB_CIFAR_DIR)
//	synthetic[:k=v,...]    seeded Gaussian clusters, keys n, test, dim, classes, seed
//
// The file-backed datasets take n=N and test=M ("fashion-mnist:n=6000,test=1000"): the first
// N training and M test points of the files, for reduced-scale runs on real data; the
// canonical name lists n before test.
//
// Parsed datasets are cached per (name, split, source directory) and shared between callers,
// so the result must be treated as read-only. Errors are not cached.
func Load(name string, split Split) (*Dataset, error) {
	if split != Train && split != Test {
		return nil, fmt.Errorf("load %q: unknown split %d", name, int(split))
	}
	base, _, _ := strings.Cut(name, ":")
	var (
		key  string
		load func() (*Dataset, error)
		sub  subset
	)
	switch fam, ok := fileBacked[base]; {
	case ok:
		var err error
		if sub, err = parseSubset(name, base); err != nil {
			return nil, fmt.Errorf("load %q: %w", name, err)
		}
		dir, err := fam.dir(base)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", base, err)
		}
		key = base + "|" + dir
		load = func() (*Dataset, error) { return fam.load(base, dir, split) }
	case base == "synthetic":
		cfg, err := parseSynthetic(name)
		if err != nil {
			return nil, fmt.Errorf("load %q: %w", name, err)
		}
		key = cfg.name()
		load = func() (*Dataset, error) { return cfg.generate(split) }
	default:
		return nil, fmt.Errorf("load %q: unknown dataset (want mnist, fashion-mnist, cifar10, cifar100 or synthetic[:k=v,...])", name)
	}
	full, err := cached(key+"|"+split.String(), load)
	if err != nil || sub == (subset{}) {
		return full, err
	}
	// Both splits of a subset carry its name (a split it does not shorten is kept whole).
	subName, n := sub.name(base), sub.size(split)
	if n == 0 {
		n = full.Len()
	}
	return cached(subName+"|"+key+"|"+split.String(), func() (*Dataset, error) { return full.prefix(n, subName, split) })
}

// fileBacked are the datasets read from files: where a family's files are, and how a split
// of them is read.
var fileBacked = map[string]struct {
	dir  func(base string) (string, error)
	load func(base, dir string, split Split) (*Dataset, error)
}{
	"mnist":         {mnistFamilyDir, loadMNISTFamily},
	"fashion-mnist": {mnistFamilyDir, loadMNISTFamily},
	"cifar10":       {cifarDir, loadCIFAR},
	"cifar100":      {cifarDir, loadCIFAR},
}

// cacheEntry holds one (possibly in-progress) load; concurrent callers wait on once.
type cacheEntry struct {
	once sync.Once
	d    *Dataset
	err  error
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*cacheEntry{}
)

// cached runs load at most once per key among concurrent callers and keeps successes.
func cached(key string, load func() (*Dataset, error)) (*Dataset, error) {
	cacheMu.Lock()
	e, ok := cache[key]
	if !ok {
		e = &cacheEntry{}
		cache[key] = e
	}
	cacheMu.Unlock()
	e.once.Do(func() { e.d, e.err = load() })
	if e.err != nil {
		cacheMu.Lock()
		if cache[key] == e {
			delete(cache, key) // let a later call retry, e.g. after the files appear
		}
		cacheMu.Unlock()
		return nil, e.err
	}
	return e.d, nil
}
