package gauntlet

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/internal/filetest"
	"pollab/models"
)

// testSpec is a small synthetic-data spec (seconds): every peer kind, every scenario.
func testSpec(t *testing.T, edit func(s *Spec)) *Spec {
	t.Helper()
	s, err := LoadSpec("gauntlet")
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "test"
	s.Model = "mlp:16-16-4:relu"
	s.Dataset = "synthetic:n=1024,test=256,dim=16,classes=4,seed=1"
	s.DType = "f64"
	s.Seeds = []uint64{7}
	s.Windows = 8
	s.Peer = PeerSpec{InnerSteps: 4, Batch: 16, LR: 0.1}
	s.Validator.EvalPoints = 64
	s.Validator.TestPoints = 256
	if edit != nil {
		edit(s)
	}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

func run(t *testing.T, s *Spec, out string, opt Options) (*Report, error) {
	t.Helper()
	opt.Out, opt.NoFigures = out, true
	return Run(context.Background(), s, opt)
}

var resultFiles = []string{"peers.csv", "global.csv", "summary.md", "summary.csv", "summary.json"}

func readResults(t *testing.T, dir string) map[string][]byte {
	return filetest.Read(t, dir, resultFiles...)
}

// TestDeterministicAndResumable: the same spec and seed give the same bytes, whatever the
// number of workers, and a run interrupted twice and resumed gives the uninterrupted output.
func TestDeterministicAndResumable(t *testing.T) {
	s := testSpec(t, nil)
	a := t.TempDir()
	if _, err := run(t, s, a, Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	b := t.TempDir()
	for _, stop := range []int{3, 2} {
		if _, err := run(t, s, b, Options{Workers: 2, StopAfter: stop}); !errors.Is(err, ErrStopped) {
			t.Fatalf("StopAfter %d: %v", stop, err)
		}
	}
	if _, err := os.Stat(filepath.Join(b, "peers.csv")); err == nil {
		t.Fatal("a stopped run wrote results")
	}
	if _, err := run(t, s, b, Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	ra, rb := readResults(t, a), readResults(t, b)
	for _, f := range resultFiles {
		if !bytes.Equal(ra[f], rb[f]) {
			t.Errorf("%s differs between the uninterrupted run and the resumed one", f)
		}
	}
	if n := bytes.Count(ra["peers.csv"], []byte("\n")); n != 1+s.Windows*(len(s.Population(Mixed))+len(s.Population(HonestOnly))) {
		t.Fatalf("peers.csv has %d lines", n)
	}
	// A different seed gives different results (the test could not pass by ignoring seeds).
	s2 := testSpec(t, func(s *Spec) { s.Seeds = []uint64{8} })
	c := t.TempDir()
	if _, err := run(t, s2, c, Options{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(readResults(t, c)["global.csv"][20:], ra["global.csv"][20:]) {
		t.Fatal("seed 8 reproduced seed 7")
	}
	// A state file of another spec is refused, not silently continued.
	s3 := testSpec(t, func(s *Spec) { s.Model = "mlp:16-8-4:relu" })
	if _, err := run(t, s3, a, Options{}); err == nil || !strings.Contains(err.Error(), "another spec") {
		t.Fatalf("state of another spec: %v", err)
	}
}

// TestHonestLikeDataParallel: with honest peers only, the global model's test loss falls as
// with plain data-parallel SGD over the same batches (the same total gradient work).
func TestHonestLikeDataParallel(t *testing.T) {
	s := testSpec(t, func(s *Spec) { s.Windows = 20; s.Seeds = []uint64{3, 4}; s.Peer.LR = 0.5 })
	rep, err := run(t, s, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	byScenario := map[string]ScenarioSummary{}
	for _, sc := range rep.Summary.Scenarios {
		byScenario[sc.Scenario] = sc
	}
	h, dp := byScenario[HonestOnly], byScenario[DataParallel]
	hFinal, dpFinal := float64(h.FinalLoss), float64(dp.FinalLoss)
	t.Logf("test loss: honest %.4f -> %.4f, dp %.4f -> %.4f; gradient FLOPs/window honest %.4g dp %.4g", h.FirstLoss, h.FinalLoss, dp.FirstLoss, dp.FinalLoss, h.PeerFLOPs, dp.PeerFLOPs)
	init := 0.0
	for _, g := range rep.Global {
		if g.Window == 0 {
			init = math.Max(init, g.TestLoss)
		}
	}
	if !(dpFinal < 0.6*init) {
		t.Fatalf("data-parallel SGD did not learn: %.4f from %.4f", dp.FinalLoss, init)
	}
	if rel := math.Abs(hFinal-dpFinal) / dpFinal; !(rel <= 0.1) {
		t.Fatalf("honest Gauntlet final loss %.4f vs data-parallel %.4f: %.1f%% apart (tolerance 10%%)", h.FinalLoss, dp.FinalLoss, 100*rel)
	}
	// The same gradient work (peers × H × 3·F·B), plus the axpys of the updates (more of
	// them for H local steps per peer than for one shared step).
	m, _ := models.Parse(s.Model)
	grad := float64(s.Peers.Honest*s.Peer.InnerSteps) * 3 * m.FLOPsPerSample() * float64(s.Peer.Batch)
	for _, f := range []float64{h.PeerFLOPs, dp.PeerFLOPs} {
		if f < grad || f > 1.1*grad {
			t.Fatalf("FLOPs per window %.4g, gradient work %.4g", f, grad)
		}
	}
}

// TestMalformedPenalised: NaN, +Inf and wrong-shape updates, and an update that makes the
// model overflow, are scored 0, paid nothing, never aggregated, and never crash the run.
func TestMalformedPenalised(t *testing.T) {
	s := testSpec(t, func(s *Spec) {
		s.Windows = 12
		s.Validator.Clip = "none"
		s.Validator.UIDsPerWindow = 4
		s.Peers = PopulationSpec{Honest: 3, Malformed: 2, LazyRandom: 1, LazyRandomStd: 1e200}
	})
	rep, err := run(t, s, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Kind]int{}
	for _, r := range rep.Peers {
		if r.Scenario != Mixed || (r.Kind != Malformed && r.Kind != LazyRandom) {
			continue
		}
		if r.Status != "" {
			seen[r.Kind]++
			if r.Status != "malformed" {
				t.Fatalf("window %d uid %d (%s): status %q", r.Window, r.UID, r.Label, r.Status)
			}
		}
		if r.Score != 0 || r.Weight != 0 || r.Binary > 0 {
			t.Fatalf("window %d uid %d (%s): score %g weight %g b %g", r.Window, r.UID, r.Label, r.Score, r.Weight, r.Binary)
		}
	}
	if seen[Malformed] == 0 || seen[LazyRandom] == 0 {
		t.Fatalf("evaluations: %v", seen)
	}
	for _, g := range rep.Global {
		if g.Scenario == Mixed && (g.Gathered != 4 || math.IsNaN(g.TestLoss) || math.IsInf(g.TestLoss, 0)) {
			// 3 honest + the overflowing (finite) random update; never the malformed two
			t.Fatalf("window %d: gathered %d, test loss %g", g.Window, g.Gathered, g.TestLoss)
		}
	}
}

func TestPenaltiesAndSync(t *testing.T) {
	for _, c := range []struct{ x, f, want float64 }{{0.5, 0.75, 0.375}, {1e-4, 0.75, 0}, {-0.2, 0.75, -0.2}, {0, 0.75, 0}, {0.3, 0, 0}} {
		if got := penalise(c.x, c.f); got != c.want {
			t.Errorf("penalise(%g, %g) = %g, want %g", c.x, c.f, got, c.want)
		}
	}
	for _, c := range []struct{ x, want float64 }{{0, 1}, {5, 0}, {7, 0}, {2.5, math.Pow(0.5, 2.5)}} {
		if got := syncScore(c.x); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("syncScore(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if got := clipTo([]float64{3, 4}, 1); math.Abs(got[0]-0.6) > 1e-15 || math.Abs(got[1]-0.8) > 1e-15 {
		t.Errorf("clipTo = %v", got)
	}
}

// TestChooseWaited: the validator's sampling weight is windows waited, so over a run every
// peer of a bin is evaluated, and peers never evaluated are preferred.
func TestChooseWaited(t *testing.T) {
	s := testSpec(t, func(s *Spec) { s.Validator.UIDsPerWindow = 2; s.Validator.BinSize = 20 })
	j := &job{spec: s, seed: 1, peers: s.Population(Mixed), rating: TemplarModel()}
	st := &state{Ratings: make([]Rating, len(j.peers)), LastEval: make([]int, len(j.peers))}
	for i := range j.peers {
		st.Ratings[i] = j.rating.NewRating()
		st.LastEval[i] = -1
	}
	counts := make([]int, len(j.peers))
	for w := range 200 {
		st.Window = w
		got := j.choose(st)
		if len(got) != 2 || got[0] == got[1] {
			t.Fatalf("window %d: %v", w, got)
		}
		for _, i := range got {
			counts[i]++
			st.LastEval[i] = w
		}
	}
	for i, c := range counts {
		// 200 windows × 2 / 13 peers ≈ 31 each; waited-weighting keeps it even.
		if c < 20 || c > 42 {
			t.Fatalf("peer %d evaluated %d times in 200 windows: %v", i, c, counts)
		}
	}
}

func TestSpecs(t *testing.T) {
	if _, err := LoadSpec("gauntlet"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"name='x'\nmodel='m'\ndataset='d'\nbogus=1",
		"name='x'\nmodel='mlp:4-4-2:relu'\ndataset='d'\nseeds=[1]\nwindows=0",
	} {
		if _, err := ParseSpec([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	s := testSpec(t, nil)
	for _, edit := range []func(*Spec){
		func(s *Spec) { s.Validator.Clip = "mean" },
		func(s *Spec) { s.Validator.UIDsPerWindow = 1 },
		func(s *Spec) { s.Peers.FreeRiderNoise = []float64{math.NaN()} },
		func(s *Spec) { s.Seeds = []uint64{1, 1} },
		func(s *Spec) { s.Peers.Honest = 0 },
		func(s *Spec) { s.Model = "mlp:4-x-2:relu" },
	} {
		c := *s
		edit(&c)
		if c.validate() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	c := *s
	c.Model = "resnet:8:1x8x8"
	if err := c.validate(); err == nil || !strings.Contains(err.Error(), "has BatchNorm running statistics") {
		t.Errorf("a model with buffers: %v, want refused by name", err)
	}
}
