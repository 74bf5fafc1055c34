package verifier

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/prooftest"
	"pollab/models"
	"pollab/prover"
	"pollab/stats"
)

// The augment env only matters on images: synthetic points are flat vectors, which
// data.Augment leaves alone. These tests train tiny honest proofs on MNIST with augmentation
// (one epoch at batch 2048: 29 steps of mlp:784-16-10:relu) and check what each env makes
// of recorded and of unrecorded augmentation seeds.

const (
	augModel = "mlp:784-16-10:relu"
	augBatch = 2048
	augSeed  = 5
)

func augConfig(k int, record bool) prover.Config {
	cfg := testConfig(k, 1, autodiff.Float32)
	cfg.Model, cfg.Dataset, cfg.Batch, cfg.Seed = augModel, "mnist", augBatch, augSeed
	cfg.Augment, cfg.RecordAugSeeds = true, record
	return cfg
}

var (
	augProofsMu sync.Mutex
	augProofs   = map[string]string{}
)

// augProof trains (once per test binary) the augmented MNIST proof with interval k, with or
// without recorded seeds; it skips when MNIST cannot be loaded.
func augProof(t *testing.T, k int, record bool) string {
	t.Helper()
	if testing.Short() {
		t.Skip("trains on MNIST")
	}
	if _, err := data.Load("mnist", data.Train); err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	augProofsMu.Lock()
	defer augProofsMu.Unlock()
	key := fmt.Sprintf("k=%d record=%v", k, record)
	if dir, ok := augProofs[key]; ok {
		return dir
	}
	dir := prooftest.Train(&subdirTB{T: t, name: fmt.Sprintf("aug-k%d-record%v", k, record)}, augConfig(k, record))
	augProofs[key] = dir
	return dir
}

// subdirTB gives the proof its own directory under the package-level temp root, which
// outlives the test that trained it (so that later tests can share the proof).
type subdirTB struct {
	*testing.T
	name string
}

func (s *subdirTB) TempDir() string { return filepath.Join(sharedTempDir(s.T), s.name) }

// cropFlipped is x (a C×H×W image) zero-padded by pad, cropped at offset (dy, dx) and
// mirrored when flip is set: the torchvision RandomCrop + RandomHorizontalFlip geometry,
// written out here independently of data.Augment.
func cropFlipped(shape []int, x []float64, pad, dy, dx int, flip bool) []float64 {
	c, h, w := shape[0], shape[1], shape[2]
	out := make([]float64, len(x))
	for ch := range c {
		for y := range h {
			for xx := range w {
				col := xx
				if flip {
					col = w - 1 - xx
				}
				sy, sx := y+dy-pad, col+dx-pad
				if sy >= 0 && sy < h && sx >= 0 && sx < w {
					out[(ch*h+y)*w+xx] = x[(ch*h+sy)*w+sx]
				}
			}
		}
	}
	return out
}

// The prover's augmentation on MNIST is the real image geometry: every gathered point is a
// pad-4 crop (offsets 0..8 on both axes) of its image, possibly mirrored, and over a batch
// the crops reach both extreme offsets and both flip states.
func TestAugmentGeometryOnMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST")
	}
	train, err := data.Load("mnist", data.Train)
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	if !slices.Equal(train.Shape, []int{1, 28, 28}) {
		t.Fatalf("MNIST point shape %v, want [1 28 28]", train.Shape)
	}
	m, err := models.Parse(augModel)
	if err != nil {
		t.Fatal(err)
	}
	s := prover.NewStepper(m, autodiff.Float32, train, nil, nil)
	if s.AugPad != 0 || prover.DefaultAugPad != 4 {
		t.Fatalf("stepper pad %d, default %d: want the default 4", s.AugPad, prover.DefaultAugPad)
	}
	batch := make([]int32, 256)
	for j := range batch {
		batch[j] = int32(97 * j)
	}
	xAug, _, err := s.Gather(batch, prover.AugSeed(augSeed, 3), true)
	if err != nil {
		t.Fatal(err)
	}
	xAug = slices.Clone(xAug)
	xRaw, _, err := s.Gather(batch, prover.AugSeed(augSeed, 3), false)
	if err != nil {
		t.Fatal(err)
	}
	const pad, dim = 4, 28 * 28
	seenDY, seenDX, seenFlip := map[int]bool{}, map[int]bool{}, map[bool]bool{}
	changed := 0
	for j := range batch {
		raw, aug := xRaw[j*dim:(j+1)*dim], xAug[j*dim:(j+1)*dim]
		if !slices.Equal(raw, aug) {
			changed++
		}
		found := false
		for dy := 0; dy <= 2*pad && !found; dy++ {
			for dx := 0; dx <= 2*pad && !found; dx++ {
				for _, flip := range []bool{false, true} {
					if slices.Equal(cropFlipped(train.Shape, raw, pad, dy, dx, flip), aug) {
						seenDY[dy], seenDX[dx], seenFlip[flip], found = true, true, true, true
						break
					}
				}
			}
		}
		if !found {
			t.Fatalf("point %d (image %d): augmented point is no pad-%d crop/flip of its image", j, batch[j], pad)
		}
	}
	if changed < len(batch)*9/10 {
		t.Errorf("only %d of %d points changed under augmentation", changed, len(batch))
	}
	if !seenDY[0] || !seenDY[2*pad] || !seenDX[0] || !seenDX[2*pad] || !seenFlip[false] || !seenFlip[true] {
		t.Errorf("crops do not cover the range: dy %v dx %v flip %v", seenDY, seenDX, seenFlip)
	}
}

// maxRepro is the largest raw trust-checkpoint distance over the evidence's re-executed
// intervals, failing the test when one was not re-executed.
func maxRepro(t *testing.T, ev *Evidence) (maxD stats.Distances, zero int) {
	t.Helper()
	for _, iv := range ev.Intervals {
		r := iv.Repro[HparamsTrustCheckpoint]
		if r == nil {
			t.Fatalf("%s: interval %d not re-executed", ev.Env, iv.Index)
		}
		if r.Raw == (stats.Distances{}) {
			zero++
		}
		maxD.L1, maxD.L2 = max(maxD.L1, r.Raw.L1), max(maxD.L2, r.Raw.L2)
		maxD.Linf, maxD.Cos = max(maxD.Linf, r.Raw.Linf), max(maxD.Cos, r.Raw.Cos)
	}
	return maxD, zero
}

// With recorded seeds the exact env replays the prover's crops and flips bit for bit; the
// augment env draws the verifier's own and lands elsewhere on every interval.
func TestRecordedAugSeedsReproduceExactly(t *testing.T) {
	dir := augProof(t, 4, true)
	p := open(t, dir)
	man := p.Manifest()
	if !man.Augment.Enabled || !man.Augment.SeedsRecorded || man.Augment.Pad != prover.DefaultAugPad || man.Steps != 29 {
		t.Fatalf("manifest: augment %+v, %d steps", man.Augment, man.Steps)
	}
	if seeds := p.AugSeeds(); len(seeds) != 29 || seeds[7] != prover.AugSeed(augSeed, 7) {
		t.Fatalf("recorded seeds: %d, want 29 equal to prover.AugSeed", len(seeds))
	}
	pol := flat{Q: 0, Metrics: slices.Clone(stats.Metrics), Delta: stats.Distances{}, Hparams: HparamsTrustCheckpoint}

	ev := gather(t, dir, "exact", Options{}, pol)
	d, zero := maxRepro(t, ev)
	t.Logf("recorded seeds, env %s: max raw l2 %.3g linf %.3g over %d intervals", ev.Env, d.L2, d.Linf, len(ev.Intervals))
	if ev.Env != "exact" || zero != len(ev.Intervals) || len(ev.Intervals) != 8 {
		t.Errorf("env %s: %d of %d intervals bit-identical, want all 8", ev.Env, zero, len(ev.Intervals))
	}
	if v := pol.Decide(ev); !v.Accepted {
		t.Errorf("recorded seeds: honest proof rejected at delta 0: %+v", v)
	}

	ev = gather(t, dir, "augment", Options{}, pol)
	d, zero = maxRepro(t, ev)
	t.Logf("recorded seeds, env %s: max raw l2 %.3g linf %.3g", ev.Env, d.L2, d.Linf)
	if ev.Env != "augment" || zero != 0 {
		t.Errorf("env %s: %d intervals reproduced exactly with the verifier's own seeds, want none", ev.Env, zero)
	}
	if v := pol.Decide(ev); v.Accepted {
		t.Error("own augmentation seeds: accepted at delta 0")
	}
}

// Seeds that are not in the proof cannot be replayed, so the verifier draws its own in every
// env and the evidence names the env it really ran (augment), not the one asked for. The
// honest error is real: the proof fails at delta 0 and passes at a loose delta, and the
// error grows with the interval k.
func TestUnrecordedAugSeedsAreHonestNoise(t *testing.T) {
	dir := augProof(t, 4, false)
	p := open(t, dir)
	if man := p.Manifest(); !man.Augment.Enabled || man.Augment.SeedsRecorded || p.AugSeeds() != nil {
		t.Fatalf("manifest: augment %+v, %d recorded seeds", man.Augment, len(p.AugSeeds()))
	}
	pol := flat{Q: 0, Metrics: slices.Clone(stats.Metrics), Delta: stats.Distances{}, Hparams: HparamsTrustCheckpoint}

	exact := gather(t, dir, "exact", Options{}, pol)
	d, zero := maxRepro(t, exact)
	t.Logf("unrecorded seeds, env exact -> %s: max raw l2 %.3g linf %.3g", exact.Env, d.L2, d.Linf)
	if exact.Env != "augment" {
		t.Errorf("env exact on a proof without its augmentation seeds is recorded as %q, want augment", exact.Env)
	}
	if zero != 0 {
		t.Errorf("%d intervals reproduced bit for bit without the prover's seeds", zero)
	}
	own := gather(t, dir, "augment", Options{}, pol)
	for i, iv := range own.Intervals {
		if a, b := iv.Repro[HparamsTrustCheckpoint].Raw, exact.Intervals[i].Repro[HparamsTrustCheckpoint].Raw; a != b {
			t.Errorf("interval %d: env exact (%v) and augment (%v) differ: both can only use the verifier's seeds", i, b, a)
		}
	}
	// Other components still apply on top of the forced augment.
	if ev := gather(t, dir, "dtype", Options{}, pol); ev.Env != "dtype+augment" {
		t.Errorf("env dtype on a proof without its seeds is recorded as %q, want dtype+augment", ev.Env)
	}

	if v := pol.Decide(exact); v.Accepted || v.Check != CheckTopQ {
		t.Errorf("unrecorded seeds at delta 0: %+v, want a top-Q reject", v)
	}
	loose := DefaultPolicy()
	loose.Select.Q = 0
	if v := loose.Decide(gather(t, dir, "exact", Options{}, loose)); !v.Accepted {
		t.Errorf("unrecorded seeds at the reference delta %v: %+v, want accepted", stats.ReferenceDelta, v)
	}

	// The error accumulates over the steps of an interval: the first interval (k steps from
	// W0) re-executed with other crops lands further away for larger k.
	var prev stats.Distances
	for _, k := range []int{1, 4, 16} {
		ev := gather(t, augProof(t, k, false), "exact", Options{}, pol)
		d := ev.Intervals[0].Repro[HparamsTrustCheckpoint].Raw
		t.Logf("unrecorded seeds, k=%d: first interval raw l2 %.3g linf %.3g (update l2 %.3g)", k, d.L2, d.Linf, ev.Intervals[0].Update.L2)
		if k > 1 && !(d.L2 > prev.L2) {
			t.Errorf("k=%d: distance %v does not exceed the smaller k's %v", k, d, prev)
		}
		prev = d
	}
}
