package experiments

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"pollab/data"
	"pollab/internal/cifartest"
	"pollab/prover"
)

// The embedded paper-cifar spec is Jia, Zhang and Fang's CIFAR-10 configuration.
func TestPaperCIFARIsThePapersSetting(t *testing.T) {
	s, err := LoadSpec("paper-cifar")
	if err != nil {
		t.Fatal(err)
	}
	tr := s.Train
	if s.Dataset != "cifar10" || !slices.Equal(s.Models, []string{"resnet20"}) || len(s.Seeds) < 2 || s.DType != "f32" ||
		tr.Epochs != 200 || tr.Batch != 128 || tr.LR != 0.1 || tr.Momentum != 0.9 || tr.WeightDecay != 1e-4 ||
		!slices.Equal(tr.Milestones, []float64{100, 150}) || tr.Gamma != 0.1 || !slices.Equal(tr.K, []int{100}) ||
		!tr.Augment || !tr.RecordAugSeeds {
		t.Fatalf("paper-cifar is not the papers' setting: %+v %+v", s, tr)
	}
	// On CIFAR-10's 50,000 training points: T = 78,125 and the milestones at steps 39,062
	// and 58,594 (Python's round in the reference train.py).
	if T := data.ScheduleSteps(50000, tr.Batch, tr.Epochs); T != 78125 {
		t.Errorf("T = %d, want 78,125", T)
	}
	if m := prover.MilestoneSteps(tr.Milestones, 50000, tr.Batch); !slices.Equal(m, []int{39062, 58594}) {
		t.Errorf("milestones %v", m)
	}
	// It plans on a CIFAR-10 directory: ResNet-20 takes its 3x32x32 points; three honest
	// proofs and 3 x (three Zhang II lengths, Zhang III, infinitesimal, Blindfold) forgeries.
	dir := t.TempDir()
	cifartest.Write(t, dir, 8, 8)
	t.Setenv("POLLAB_CIFAR_DIR", dir)
	p, err := NewPlan(s, Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if h, f := len(p.Stages[0].Jobs), len(p.Stages[2].Jobs); h != 3 || f != 18 {
		t.Errorf("plan: %d honest and %d forge jobs, want 3 and 18", h, f)
	}
	kinds := map[string]bool{}
	for _, a := range s.Attacks {
		kinds[a.Config.Label()] = true
	}
	for _, k := range []string{"zhang-II", "zhang-III", KindInfinitesimal, KindBlindfold} {
		if !kinds[k] {
			t.Errorf("attack %s missing (have %v)", k, kinds)
		}
	}
}

// paperCIFARSmall is paper-cifar scaled down with the overrides a user would give, on a
// CIFAR-10 fixture of 40 training points (batch 4: 10 steps per epoch).
func paperCIFARSmall(t *testing.T, model string) *Spec {
	t.Helper()
	dir := t.TempDir()
	cifartest.Write(t, dir, 8, 8)
	t.Setenv("POLLAB_CIFAR_DIR", dir)
	s, err := LoadSpecWith("paper-cifar", Overrides{Epochs: 2, Seeds: 2, ForgedSteps: []int{4}, Set: []string{
		`models=["` + model + `"]`, "train.batch=4", "train.k=[5]", "attack.k=1", "attack.blindfold.q=1",
		"attack.zhang.iters=2", "attack.infinitesimal.delta=[0.05]", "attack.blindfold.delta=[0.5]",
		`verify.envs=["exact", "augment"]`, "verify.q=[1]", "verify.audit=[0]",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// paper-cifar scaled down runs end to end on CIFAR-shaped data with augmentation: the lr
// schedule keeps its shape, every attack forges, and honest proofs replay exactly with
// their recorded augmentation seeds but not with the verifier's own.
func TestPaperCIFARScaledDownRuns(t *testing.T) {
	s := paperCIFARSmall(t, "mlp:3072-8-10:relu")
	if !slices.Equal(s.Train.Milestones, []float64{1, 1.5}) {
		t.Fatalf("milestones %v, want the schedule's shape [1 1.5]", s.Train.Milestones)
	}
	out := t.TempDir()
	rows := runRows(t, s, out)
	kinds := map[string]bool{}
	honest := map[string]float64{}
	for _, r := range rows {
		kinds[r.Kind] = true
		if r.Kind == KindHonest && r.Metric() == "l2" {
			if r.Steps != 20 {
				t.Errorf("honest proof of %d steps, want 2 epochs x 10", r.Steps)
			}
			honest[r.Env] = math.Max(honest[r.Env], r.MaxRepro[1])
		}
	}
	for _, k := range []string{KindHonest, "zhang-II", "zhang-III", KindInfinitesimal, KindBlindfold} {
		if !kinds[k] {
			t.Errorf("no %s rows (have %v)", k, kinds)
		}
	}
	checkCrafting(t, out, 2*2) // Zhang II and III against two seeds
	if honest["exact"] != 0 || !(honest["augment"] > 0) {
		t.Errorf("honest l2 reproduction error: exact %g (want 0: recorded seeds), augment %g (want > 0)", honest["exact"], honest["augment"])
	}
}

// checkCrafting reads the crafting table of a run with want Zhang forgeries: crafting never
// raises the objective's residual above the real batch's (L-BFGS starts at r = 0), and the
// table's median agrees with the attack's own summary in its report.
func checkCrafting(t *testing.T, out string, want int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, CraftingCSV))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) != want+1 {
		t.Fatalf("crafting.csv: %d records, want %d (%v)", len(recs)-1, want, err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	num := func(rec []string, name string) float64 {
		x, err := strconv.ParseFloat(rec[col[name]], 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return x
	}
	for _, rec := range recs[1:] {
		if num(rec, "reduction_min") < 0 || num(rec, "reduction_max") > 1 || num(rec, "residual_median") > num(rec, "start_residual_median") {
			t.Errorf("crafting row %v: the crafted residual exceeds the real batch's", rec)
		}
		var rep struct {
			Residual struct{ Median float64 } `json:"residual"`
		}
		raw, err := os.ReadFile(filepath.Join(out, "cache", "reports", rec[col["proof_dir"]]+".json"))
		if err != nil || json.Unmarshal(raw, &rep) != nil {
			t.Fatalf("report of %s: %v", rec[col["proof_dir"]], err)
		}
		if got := num(rec, "residual_median"); math.Abs(got-rep.Residual.Median) > 1e-5*math.Abs(rep.Residual.Median) {
			t.Errorf("%s: table median %g, the attack's own %g", rec[col["proof_dir"]], got, rep.Residual.Median)
		}
	}
	if md, err := os.ReadFile(filepath.Join(out, CraftingMD)); err != nil || !bytes.Contains(md, []byte("zhang-III: crafting (lambda 0.1)")) {
		t.Errorf("crafting.md: %v\n%s", err, md)
	}
}
