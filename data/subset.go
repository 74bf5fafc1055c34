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
	err := eachOption(name, func(k, v string) error {
		if k != "n" && k != "test" {
			return fmt.Errorf("option %q: %s takes n=N and test=M (the first N training, M test points)", k+"="+v, base)
		}
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 {
			return fmt.Errorf("option %s=%s: want a positive integer", k, v)
		}
		if k == "n" {
			s.n = x
		} else {
			s.test = x
		}
		return nil
	})
	return s, err
}

// eachOption calls fn with every option of a dataset name "base:k=v,k=v,..." (none without
// ':'), in order, refusing an option that is not key=value or a key given twice; it stops at
// fn's first error.
func eachOption(name string, fn func(k, v string) error) error {
	_, opts, has := strings.Cut(name, ":")
	if !has {
		return nil
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("option %q is not key=value", kv)
		}
		if seen[k] {
			return fmt.Errorf("option %q given twice", k)
		}
		seen[k] = true
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
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
