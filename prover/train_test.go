package prover

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/filetest"
	"pollab/models"
	"pollab/proof"
)

// testConfig is a small but complete run: momentum, weight decay, a milestone, f32, and a last
// interval shorter than k (T = 32, k = 5).
func testConfig() Config {
	return Config{
		Model:   "mlp:16-8-4:relu",
		Dataset: "synthetic:n=256,test=128,dim=16,classes=4,seed=3",
		DType:   autodiff.Float32,
		Hyper:   proof.Hyper{LR: 0.2, Momentum: 0.9, WeightDecay: 1e-3, Milestones: []int{20}, Gamma: 0.1},
		Batch:   16,
		Epochs:  2,
		K:       5,
		Seed:    9,
	}
}

// unhashed are the proof files that legitimately differ between identical runs: only
// provenance.json (times, command line, and the ledger with its wall time).
var unhashed = map[string]bool{proof.ProvenanceFile: true}

// sameProof fails unless dirs a and b hold the same files with the same bytes (but unhashed),
// and their provenance.json ledgers count the same work (wall time aside).
func sameProof(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := filetest.ReadTree(t, a), filetest.ReadTree(t, b)
	var names []string
	for n := range fa {
		names = append(names, n)
	}
	for n := range fb {
		if _, ok := fa[n]; !ok {
			t.Errorf("%s only in %s", n, b)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		vb, ok := fb[n]
		switch {
		case !ok:
			t.Errorf("%s only in %s", n, a)
		case !unhashed[n] && !bytes.Equal(fa[n], vb):
			t.Errorf("%s differs", n)
		}
	}
	if len(names) < 5 {
		t.Errorf("only %d files in the proof: %v", len(names), names)
	}
	if _, ok := fa["ledger.json"]; ok {
		t.Errorf("ledger.json written: the ledger belongs in %s", proof.ProvenanceFile)
	}
	la, lb := provenanceLedger(t, a), provenanceLedger(t, b)
	la.Wall, lb.Wall = 0, 0
	if la != lb {
		t.Errorf("ledgers differ (wall time aside):\n%+v\n%+v", la, lb)
	}
}

// trainOpen trains cfg into a fresh directory and opens the proof.
func trainOpen(t *testing.T, cfg Config) (*Result, *proof.Proof) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proof")
	res, err := Train(context.Background(), cfg, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res, openProof(t, dir)
}

// openProof opens the proof in dir (failing the test when it does not open).
func openProof(t *testing.T, dir string) *proof.Proof {
	t.Helper()
	p, err := proof.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// provenanceLedger is the cost recorded in dir's provenance.json; it fails when there is none.
func provenanceLedger(t *testing.T, dir string) autodiff.Cost {
	t.Helper()
	prov, ok := openProof(t, dir).Provenance()
	if !ok || prov.Ledger == nil {
		t.Fatalf("%s: no ledger in %s (%+v, ok %v)", dir, proof.ProvenanceFile, prov, ok)
	}
	return *prov.Ledger
}

func TestTrainIsDeterministicAndReExecutable(t *testing.T) {
	cfg := testConfig()
	a, b := t.TempDir(), t.TempDir()
	ra, err := Train(context.Background(), cfg, a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Train(context.Background(), cfg, b, Options{}); err != nil {
		t.Fatal(err)
	}
	sameProof(t, a, b)

	if ra.Steps != 32 || ra.Checkpoints != 8 || ra.ResumedFrom != -1 {
		t.Errorf("steps %d checkpoints %d resumed %d, want 32, 8 (0,5,...,30,32), -1", ra.Steps, ra.Checkpoints, ra.ResumedFrom)
	}
	if ra.TestAccuracy < 0.5 { // 4 well-separated clusters: chance is 0.25
		t.Errorf("test accuracy %.3f: training did not learn", ra.TestAccuracy)
	}
	// The proof's ledger is training only: one forward and one backward pass of B samples per
	// step, nothing for the test-set evaluation, which is recorded beside it.
	if ra.Cost.Forward != int64(ra.Steps) || ra.Cost.Backward != int64(ra.Steps) || ra.Cost.Samples != int64(ra.Steps*cfg.Batch) {
		t.Errorf("ledger %+v: want exactly %d forward and backward passes of %d samples (training only)", ra.Cost, ra.Steps, cfg.Batch)
	}
	if ra.EvalCost.Forward == 0 || ra.EvalCost.Backward != 0 || ra.EvalCost.Samples != int64(ra.TestPoints) {
		t.Errorf("evaluation cost %+v: want forward passes over the %d test points only", ra.EvalCost, ra.TestPoints)
	}

	// The proof opens, and re-executing every interval from its checkpoint with the same
	// Stepper reproduces the next checkpoint bit for bit (CPU gradients are deterministic).
	p := openProof(t, a)
	man := p.Manifest()
	if man.Producer != Producer || man.Steps != 32 || man.Augment.Enabled || p.AugSeeds() != nil {
		t.Errorf("manifest: producer %q steps %d augment %+v", man.Producer, man.Steps, man.Augment)
	}
	if c, ok := p.Cost(); !ok || c != ra.Cost {
		t.Errorf("provenance.json ledger %+v (ok %v), want the run's %+v", c, ok, ra.Cost)
	}
	if prov, ok := p.Provenance(); !ok || prov.Evaluation == nil || *prov.Evaluation != ra.EvalCost {
		t.Errorf("provenance.json evaluation %+v (ok %v), want %+v", prov.Evaluation, ok, ra.EvalCost)
	}
	m, _ := models.Parse(man.Model)
	train, err := data.Load(man.Dataset.Name, data.Train)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStepper(m, autodiff.Float32, train, nil, nil)
	replayIntervals(t, p, s, func(i int, c, next *proof.Checkpoint, st *State) {
		if want := man.Hyper().LRAt(c.Step); c.LR != want {
			t.Errorf("checkpoint %d lr %v, want %v", c.Step, c.LR, want)
		}
		if i == 0 {
			if w0 := models.Init(m, data.SubSeed(cfg.Seed, "init", 0)); maxAbsDiff(w0, c.Params) > 1e-7 {
				t.Error("checkpoint 0 is not the init law's draw for the seed")
			}
			for _, v := range c.Momentum {
				if v != 0 {
					t.Fatal("checkpoint 0 has non-zero momentum")
				}
			}
		}
		if d := maxAbsDiff(st.Params, next.Params); d != 0 || st.LR != next.LR || maxAbsDiff(st.Momentum, next.Momentum) != 0 {
			t.Errorf("interval %d: re-execution differs from checkpoint %d by %g (lr %v vs %v)", i, next.Step, d, st.LR, next.LR)
		}
	})
	last, err := p.Checkpoint(p.NumCheckpoints() - 1)
	if err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(last.Params, ra.Final) != 0 {
		t.Error("the last checkpoint is not the result's final weights")
	}

	// A different seed gives a different proof.
	cfg.Seed++
	c := t.TempDir()
	if _, err := Train(context.Background(), cfg, c, Options{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(filetest.ReadTree(t, a)["ckpt/000000.safetensors"], filetest.ReadTree(t, c)["ckpt/000000.safetensors"]) {
		t.Error("seeds 9 and 10 gave the same initial checkpoint")
	}
}

func TestResumeGivesTheSameProof(t *testing.T) {
	cfg := testConfig()
	full := t.TempDir()
	if _, err := Train(context.Background(), cfg, full, Options{}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	// Some step up to the last checkpoint before the final one (30 here: T = 32, k = 5); a
	// step after it would stop at the final checkpoint, where the run is simply finished.
	steps := cfg.Epochs * 256 / cfg.Batch
	stop := 1 + r.IntN((steps-1)/cfg.K*cfg.K)
	t.Logf("stopping after the checkpoint at or after step %d", stop)

	dir := t.TempDir()
	_, err := Train(context.Background(), cfg, dir, Options{StopAfter: stop})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v, want ErrStopped", err)
	}
	if _, err := os.Stat(filepath.Join(dir, proof.ManifestFile)); err == nil {
		t.Fatal("a stopped run wrote manifest.json")
	}
	if _, err := Train(context.Background(), cfg, dir, Options{}); err == nil {
		t.Fatal("a fresh Train over an unfinished proof should refuse (use Resume)")
	}
	res, err := Train(context.Background(), cfg, dir, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedFrom < stop || res.ResumedFrom%cfg.K != 0 {
		t.Errorf("resumed from step %d, want the checkpoint at or after %d", res.ResumedFrom, stop)
	}
	sameProof(t, full, dir)
	if res.Cost.Backward != int64(res.Steps) {
		t.Errorf("resumed ledger counts %d backward passes, want the whole run's %d", res.Cost.Backward, res.Steps)
	}

	// Cancelling mid-interval (as a kill would) also resumes to the same proof.
	dir2 := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = Train(ctx, cfg, dir2, Options{Progress: func(done, total int, _ string) {
		if done == 13 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, err := Train(context.Background(), cfg, dir2, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	sameProof(t, full, dir2)

	// Resuming a finished proof is an error; resuming into an empty directory trains afresh.
	if _, err := Train(context.Background(), cfg, full, Options{Resume: true}); !errors.Is(err, proof.ErrFinished) {
		t.Errorf("resume of a finished proof: %v, want ErrFinished", err)
	}
	empty := filepath.Join(t.TempDir(), "new")
	if _, err := Train(context.Background(), cfg, empty, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	sameProof(t, full, empty)

	// A different config refuses to resume someone else's unfinished proof.
	dir3 := t.TempDir()
	if _, err := Train(context.Background(), cfg, dir3, Options{StopAfter: 5}); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	other := cfg
	other.Hyper.LR = 0.3
	if _, err := Train(context.Background(), other, dir3, Options{Resume: true}); err == nil {
		t.Error("resuming with a different lr should fail")
	}
}

func TestRecordedAugSeedsAndCalibrate(t *testing.T) {
	cfg := testConfig()
	cfg.Augment, cfg.RecordAugSeeds = true, true
	res, p := trainOpen(t, cfg)
	seeds := p.AugSeeds()
	if len(seeds) != res.Steps || seeds[3] != AugSeed(cfg.Seed, 3) || !p.Manifest().Augment.SeedsRecorded {
		t.Fatalf("augseeds: %d recorded, want %d matching AugSeed", len(seeds), res.Steps)
	}

	cfg.Augment, cfg.RecordAugSeeds = false, false
	a, b, err := Calibrate(context.Background(), cfg, [2]uint64{cfg.Seed, cfg.Seed + 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	honest, err := Train(context.Background(), cfg, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(a, honest.Final) != 0 {
		t.Error("calibration run with the proof's seed differs from Train")
	}
	if maxAbsDiff(a, b) == 0 {
		t.Error("calibration runs with different seeds are identical")
	}
}

func TestAugmentationIsSeededPerStep(t *testing.T) {
	m, err := models.Parse("mlp:16-4:relu")
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 8*16)
	for i := range raw {
		raw[i] = byte(37 * i)
	}
	ds, err := data.NewDataset("img", []int{1, 4, 4}, 4, data.U8, raw, []uint8{0, 1, 2, 3, 0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	s := NewStepper(m, autodiff.Float64, ds, nil, nil)
	s.AugPad = 1
	batch := []int32{0, 1, 2, 3, 4, 5, 6, 7}
	grad := func(seed uint64, aug bool) []float64 {
		x, y, err := s.Gather(batch, seed, aug)
		if err != nil {
			t.Fatal(err)
		}
		g, _, err := s.Gradient(models.Init(m, 1), x, y, 0)
		if err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), g...)
	}
	plain, a1, a2, b := grad(5, false), grad(5, true), grad(5, true), grad(6, true)
	if maxAbsDiff(a1, a2) != 0 {
		t.Error("the same augmentation seed gave different gradients")
	}
	if maxAbsDiff(a1, plain) == 0 || maxAbsDiff(a1, b) == 0 {
		t.Error("augmentation, or a different augmentation seed, did not change the gradient")
	}
}

func TestTrainRejectsBadConfigs(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.Batch = 0 },
		func(c *Config) { c.Batch = 100000 },
		func(c *Config) { c.K = 0 },
		func(c *Config) { c.Epochs = 0 },
		func(c *Config) { c.Hyper.LR = 0 },
		func(c *Config) { c.Hyper.Momentum = 1 },
		func(c *Config) { c.Model = "mlp:17-4:relu" },
		func(c *Config) { c.Model = "mlp:16-5:relu" },
		func(c *Config) { c.Dataset = "nope" },
		func(c *Config) { c.RecordAugSeeds = true },
	}
	for i, f := range bad {
		c := testConfig()
		f(&c)
		dir := t.TempDir()
		if _, err := Train(context.Background(), c, dir, Options{}); err == nil {
			t.Errorf("bad config %d accepted", i)
		}
	}
}

// MilestoneSteps agrees with the reference train.py's Python round(m * (N / B)), which
// rounds halves to even (values printed by CPython 3: [round(i * (50000 / 128)) for i in
// [100, 150]] and the others below).
func TestMilestoneStepsRoundLikePython(t *testing.T) {
	for _, tc := range []struct {
		epochs   []float64
		n, batch int
		want     []int
	}{
		{[]float64{100, 150}, 50000, 128, []int{39062, 58594}}, // CIFAR-10, Jia et al.'s schedule
		{[]float64{0.5, 1.5, 2.5}, 60000, 128, []int{234, 703, 1172}},
		{[]float64{1, 3}, 10, 4, []int{2, 8}}, // 2.5 -> 2, 7.5 -> 8
	} {
		if got := MilestoneSteps(tc.epochs, tc.n, tc.batch); !slices.Equal(got, tc.want) {
			t.Errorf("MilestoneSteps(%v, %d, %d) = %v, want %v", tc.epochs, tc.n, tc.batch, got, tc.want)
		}
	}
}
