package data

import (
	"fmt"
	"strconv"
	"strings"
)

// subset selects the first N training and M test points of a file-backed dataset
// ("fashion-mnist:n=6000,test=1000"): a reduced-scale run on real data whose name, like
// every dataset name, reloads the same points. Zero means the whole split.
type subset struct{ n, test int }

// parseSubset reads the options after base: in "base:n=N,test=M" (either or both).
func parseSubset(name, base string) (subset, error) {
	var s subset
	_, opts, has := strings.Cut(name, ":")
	if !has {
		return s, nil
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || (k != "n" && k != "test") {
			return s, fmt.Errorf("option %q: %s takes n=N and test=M (the first N training, M test points)", kv, base)
		}
		if seen[k] {
			return s, fmt.Errorf("option %q given twice", k)
		}
		seen[k] = true
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 {
			return s, fmt.Errorf("option %s=%s: want a positive integer", k, v)
		}
		if k == "n" {
			s.n = x
		} else {
			s.test = x
		}
	}
	return s, nil
}

// name is the canonical name of the subset of base.
func (s subset) name(base string) string {
	var opts []string
	if s.n > 0 {
		opts = append(opts, "n="+strconv.Itoa(s.n))
	}
	if s.test > 0 {
		opts = append(opts, "test="+strconv.Itoa(s.test))
	}
	if len(opts) == 0 {
		return base
	}
	return base + ":" + strings.Join(opts, ",")
}

// size is the number of points the subset keeps of split (0: all of them).
func (s subset) size(split Split) int {
	if split == Test {
		return s.test
	}
	return s.n
}

// prefix is a new Dataset of d's first n points, named name.
func (d *Dataset) prefix(n int, name string, split Split) (*Dataset, error) {
	if n > d.Len() {
		return nil, fmt.Errorf("load %s: %d %v points asked, %s has %d", name, n, split, d.Name, d.Len())
	}
	return NewDataset(name, d.Shape, d.Classes, d.Enc, d.raw[:n*d.pointBytes:n*d.pointBytes], d.labels[:n:n])
}
