package data

import (
	"fmt"
	"math"
	"strconv"
)

// syntheticConfig describes a synthetic dataset; its canonical name lists every key.
type syntheticConfig struct {
	n, test, dim, classes int
	seed                  uint64
}

// Limits keep names taken from untrusted manifests from requesting huge allocations or long
// generation: a verifier generates the declared dataset before it can compare the
// fingerprint, so a 4 KB manifest must not cost gigabytes. Both splits together hold at most
// 64 MiB (a few seconds to generate), far above any lab dataset (the default is 160 KB).
const (
	syntheticMaxPoints = 1 << 20
	syntheticMaxDim    = 1 << 16
	syntheticMaxBytes  = 1 << 26
)

// syntheticSigma is the per-feature standard deviation of each cluster; cluster means are
// uniform in [0.2, 0.8] per feature, so classes overlap little but are not trivially distinct
// in any single feature.
const syntheticSigma = 0.25

func (c syntheticConfig) name() string {
	return fmt.Sprintf("synthetic:n=%d,test=%d,dim=%d,classes=%d,seed=%d", c.n, c.test, c.dim, c.classes, c.seed)
}

// parseSynthetic parses "synthetic" or "synthetic:k=v,..." with keys n, test, dim, classes,
// seed (defaults 2048, 512, 64, 10, 1), each at most once.
func parseSynthetic(name string) (syntheticConfig, error) {
	c := syntheticConfig{n: 2048, test: 512, dim: 64, classes: 10, seed: 1}
	err := eachOption(name, func(k, v string) error {
		if k == "seed" {
			s, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("option seed: %w", err)
			}
			c.seed = s
			return nil
		}
		x, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("option %s: %w", k, err)
		}
		switch k {
		case "n":
			c.n = x
		case "test":
			c.test = x
		case "dim":
			c.dim = x
		case "classes":
			c.classes = x
		default:
			return fmt.Errorf("unknown option %q (want n, test, dim, classes, seed)", k)
		}
		return nil
	})
	if err != nil {
		return c, err
	}
	switch {
	case c.n < 1 || c.n > syntheticMaxPoints:
		return c, fmt.Errorf("n=%d, want 1..%d", c.n, syntheticMaxPoints)
	case c.test < 1 || c.test > syntheticMaxPoints:
		return c, fmt.Errorf("test=%d, want 1..%d", c.test, syntheticMaxPoints)
	case c.dim < 1 || c.dim > syntheticMaxDim:
		return c, fmt.Errorf("dim=%d, want 1..%d", c.dim, syntheticMaxDim)
	case c.classes < 2 || c.classes > MaxClasses:
		return c, fmt.Errorf("classes=%d, want 2..%d", c.classes, MaxClasses)
	case (c.n+c.test)*c.dim > syntheticMaxBytes:
		return c, fmt.Errorf("n=%d plus test=%d points of dim %d need %d bytes, more than the %d allowed", c.n, c.test, c.dim, (c.n+c.test)*c.dim, syntheticMaxBytes)
	}
	return c, nil
}

// generate draws the split. Cluster means come from SubSeed(seed, "synthetic/means", 0); the
// points of each split from their own stream (labels uniform, features mean + σ·z clamped to
// [0, 1] and quantized to bytes like an image). Only integer PCG outputs, additions and
// explicitly rounded products are used, so the bytes are identical on every platform.
func (c syntheticConfig) generate(split Split) (*Dataset, error) {
	means := make([]float64, c.classes*c.dim)
	msrc := NewPCG(SubSeed(c.seed, "synthetic/means", 0))
	for i := range means {
		means[i] = 0.2 + float64(0.6*unitFloat(msrc.Uint64()))
	}
	n, label := c.n, "synthetic/train"
	if split == Test {
		n, label = c.test, "synthetic/test"
	}
	src := NewPCG(SubSeed(c.seed, label, 0))
	raw := make([]byte, n*c.dim)
	labels := make([]uint8, n)
	for i := range n {
		y := int(uniformBelow(src, uint64(c.classes)))
		labels[i] = uint8(y)
		mu := means[y*c.dim : (y+1)*c.dim]
		for j := range c.dim {
			// Irwin–Hall: the sum of 12 uniforms minus 6 has mean 0, variance 1 and is
			// close to normal, without transcendental functions whose last bits vary by
			// platform.
			var z float64
			for range 12 {
				z += float64(unitFloat(src.Uint64())) // float64(): no fused multiply-add on arm64
			}
			z -= 6
			v := mu[j] + float64(syntheticSigma*z)
			v = min(max(v, 0), 1)
			raw[i*c.dim+j] = uint8(math.Round(float64(v * 255)))
		}
	}
	return NewDataset(c.name(), []int{c.dim}, c.classes, U8, raw, labels)
}

// unitFloat maps a 64-bit output to [0, 1) with 53 bits of precision.
func unitFloat(u uint64) float64 { return float64(u>>11) / (1 << 53) }
