package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/attacktest"
	"pollab/internal/prooftest"
	"pollab/internal/pynumpy"
	"pollab/proof"
	"pollab/prover"
	"pollab/verifier"
)

// pyTorch runs `python3 -m pollab_torch args...` from the repository's python/ directory and
// returns its stdout; a non-zero exit fails the test with stderr.
func pyTorch(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := pyTorchErr(args...)
	if err != nil {
		t.Fatalf("pollab_torch %v: %v", args, err)
	}
	return out
}

func pyTorchErr(args ...string) ([]byte, error) {
	return pyRun(append([]string{"-m", "pollab_torch"}, args...)...)
}

// pyRun runs Debian's python with the repository's python/ directory on PYTHONPATH.
func pyRun(args ...string) ([]byte, error) {
	cmd := pynumpy.PollabTorch("../python", []string{"testdata"}, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &pyError{err, stderr.String()}
	}
	return stdout.Bytes(), nil
}

type pyError struct {
	err    error
	stderr string
}

func (e *pyError) Error() string { return e.err.Error() + ": " + e.stderr }

// exportData writes the train split of name for Python (data.Export) and returns the path.
func exportData(t *testing.T, name string) string {
	t.Helper()
	ds, err := data.Load(name, data.Train)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := data.Export(&buf, ds); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "data.plds")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// reexecRow is one interval of `pollab_torch reexec`.
type reexecRow struct {
	Index, Start, End int
	L1, L2, Linf, Cos float64
	Buffers           *struct{ L1, L2, Linf, Cos float64 } // running statistics (models with BatchNorm)
}

// torchReexec re-executes every interval of each proof dirs[i] (on data file files[i]) in PyTorch,
// in one Python process.
func torchReexec(t *testing.T, dirs, files []string) [][]reexecRow {
	t.Helper()
	args := []string{"reexec"}
	for i := range dirs {
		args = append(args, dirs[i], files[i])
	}
	var rows [][]reexecRow
	if err := json.Unmarshal(pyTorch(t, append(args, "--threads", "1")...), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(dirs) {
		t.Fatalf("%d results for %d proofs", len(rows), len(dirs))
	}
	return rows
}

// updateL2 is the l2 length of each interval's update, read from the proof's checkpoints.
func updateL2(t *testing.T, dir string) []float64 {
	t.Helper()
	p := prooftest.OpenAll(t, dir)
	var out []float64
	var prev []float64
	for i := range p.NumCheckpoints() {
		c, err := p.Checkpoint(i)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			var ss float64
			for j := range prev {
				d := c.Params[j] - prev[j]
				ss += d * d
			}
			out = append(out, math.Sqrt(ss))
		}
		prev = c.Params
	}
	return out
}

// smallRuns are the pollab proofs of the cross-verification tests: every model pollab knows,
// momentum, weight decay and a milestone inside an interval, on small synthetic data.
var smallRuns = []prover.Config{
	{Model: "mlp:64-32-10:relu", Dataset: "synthetic:n=256,test=64,dim=64,classes=10,seed=3", Batch: 16, Epochs: 1, K: 4, Seed: 1,
		Hyper: proof.Hyper{LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4, Milestones: []int{6}, Gamma: 0.1}},
	{Model: "mlp:64-32-10:tanh", Dataset: "synthetic:n=256,test=64,dim=64,classes=10,seed=3", Batch: 16, Epochs: 1, K: 5, Seed: 2,
		Hyper: proof.Hyper{LR: 0.05}},
	{Model: "lenet5", Dataset: "synthetic:n=96,test=16,dim=784,classes=10,seed=4", Batch: 16, Epochs: 1, K: 3, Seed: 1,
		Hyper: proof.Hyper{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4}},
	{Model: "cnn-cifar", Dataset: "synthetic:n=48,test=16,dim=3072,classes=10,seed=5", Batch: 8, Epochs: 1, K: 3, Seed: 1,
		Hyper: proof.Hyper{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, Milestones: []int{4}, Gamma: 0.5}},
}

// TestPollabProofsReexecuteInTorch: pollab's f64 proofs of every model re-execute in PyTorch
// to float64 rounding (l2 <= 1e-12, about 1e-10 of each interval's update), and a wrong
// dataset is one clear error.
func TestPollabProofsReexecuteInTorch(t *testing.T) {
	pynumpy.RequireTorch(t)
	var dirs, files []string
	for i, cfg := range smallRuns {
		cfg.DType = autodiff.Float64
		dir := filepath.Join(t.TempDir(), fmt.Sprint("proof", i))
		if _, err := prover.Train(context.Background(), cfg, dir, prover.Options{}); err != nil {
			t.Fatal(err)
		}
		dirs, files = append(dirs, dir), append(files, exportData(t, cfg.Dataset))
	}
	for i, rows := range torchReexec(t, dirs, files) {
		upd := updateL2(t, dirs[i])
		if len(rows) != len(upd) {
			t.Fatalf("%s: %d intervals re-executed, the proof has %d", smallRuns[i].Model, len(rows), len(upd))
		}
		for j, r := range rows {
			if !(r.L2 <= 1e-12) || !(upd[j] > 1e-3) {
				t.Errorf("%s interval %d [%d, %d]: torch replay l2 %.3g (want <= 1e-12), update l2 %.3g", smallRuns[i].Model, j, r.Start, r.End, r.L2, upd[j])
			}
		}
		t.Logf("%s f64: %d intervals, max torch l2 %.3g", smallRuns[i].Model, len(rows), maxL2(rows))
	}
	// Another dataset than the declared one is one clear error.
	_, err := pyTorchErr("reexec", dirs[0], exportData(t, "synthetic:n=256,test=64,dim=64,classes=10,seed=4"))
	if err == nil || !strings.Contains(err.Error(), "is not the proof's synthetic") {
		t.Fatalf("re-executing on another dataset: %v, want one line naming the mismatch", err)
	}
}

func maxL2(rows []reexecRow) float64 {
	m := 0.0
	for _, r := range rows {
		m = max(m, r.L2)
	}
	return m
}

// recordJob is one job of testdata/record.py.
type recordJob struct {
	Data        string  `json:"data"`
	Spec        string  `json:"spec"`
	DType       string  `json:"dtype"`
	Out         string  `json:"out"`
	Batch       int     `json:"batch"`
	Epochs      int     `json:"epochs"`
	K           int     `json:"k"`
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	Milestones  []int   `json:"milestones"`
	Gamma       float64 `json:"gamma"`
	Seed        uint64  `json:"seed"`
	Threads     int     `json:"threads"`
}

// newRecordJob is the record.py job that trains cfg's model and hyperparameters in dtype dt on
// the exported data file data into out, seeded with seed, on one thread.
func newRecordJob(data string, cfg prover.Config, dt, out string, seed uint64) recordJob {
	return recordJob{Data: data, Spec: cfg.Model, DType: dt, Out: out, Batch: cfg.Batch, Epochs: cfg.Epochs, K: cfg.K,
		LR: cfg.Hyper.LR, Momentum: cfg.Hyper.Momentum, WeightDecay: cfg.Hyper.WeightDecay,
		Milestones: cfg.Hyper.Milestones, Gamma: cfg.Hyper.Gamma, Seed: seed, Threads: 1}
}

// record runs testdata/record.py on jobs.
func record(t *testing.T, jobs []recordJob) {
	t.Helper()
	spec, _ := json.Marshal(jobs)
	abs, _ := filepath.Abs("testdata/record.py")
	if out, err := pyRun(abs, string(spec)); err != nil {
		t.Fatalf("record.py: %v\n%s", err, out)
	}
}

// verifyEvery verifies p with pollab's verifier in the exact env, every interval re-executed
// (Q = 0, audit nonce 1): the evidence and the default policy's verdict on it.
func verifyEvery(t *testing.T, p *proof.Proof) (*verifier.Evidence, verifier.Verdict) {
	t.Helper()
	all := verifier.DefaultPolicy()
	all.Select.Q = 0
	ev := attacktest.Gather(t, p, "exact", all)
	return ev, all.Decide(ev)
}

// f32Band bounds an f32 interval's cross-implementation replay error relative to the
// interval's update (l2): results/torch-noise measures 3e-7 to 4e-6 of the update without a
// kink flip and 3.1e-3 at most (a ReLU flip in a one-step interval of the MNIST MLP).
const f32Band = 1e-2

// TestTorchRecordedProofsVerifyInPollab: proofs recorded by a PyTorch training loop
// (testdata/record.py, pollab_torch.Recorder) pass every check of pollab's verifier, every
// interval re-executed: f64 to rounding (l2 <= 1e-12), f32 within f32Band of the update.
func TestTorchRecordedProofsVerifyInPollab(t *testing.T) {
	pynumpy.RequireTorch(t)
	var jobs []recordJob
	dataFiles := map[string]string{}
	for i, cfg := range smallRuns {
		if dataFiles[cfg.Dataset] == "" {
			dataFiles[cfg.Dataset] = exportData(t, cfg.Dataset)
		}
		for _, dt := range []string{"f64", "f32"} {
			jobs = append(jobs, newRecordJob(dataFiles[cfg.Dataset], cfg, dt, filepath.Join(t.TempDir(), fmt.Sprint("proof", i, dt)), uint64(i+1)))
		}
	}
	record(t, jobs)
	for _, j := range jobs {
		p := prooftest.OpenAll(t, j.Out)
		ev, v := verifyEvery(t, p)
		if !v.Accepted {
			t.Errorf("%s %s: rejected: %s %s", j.Spec, j.DType, v.Check, v.Reason)
		}
		worst := 0.0
		for _, iv := range ev.Intervals {
			r := iv.Repro[verifier.HparamsTrustCheckpoint]
			if r == nil {
				t.Fatalf("%s %s: interval %d not re-executed", j.Spec, j.DType, iv.Index)
			}
			bound := 1e-12
			if j.DType == "f32" {
				bound = f32Band * iv.Update.L2
			}
			if !(r.Raw.L2 <= bound) || !(iv.Update.L2 > 1e-3) {
				t.Errorf("%s %s interval %d: pollab replay l2 %.3g, want <= %.3g (update %.3g)", j.Spec, j.DType, iv.Index, r.Raw.L2, bound, iv.Update.L2)
			}
			worst = max(worst, r.Raw.L2/iv.Update.L2)
		}
		t.Logf("%s %s: %d intervals, max replay l2 / update l2 %.3g", j.Spec, j.DType, len(ev.Intervals), worst)
	}
}

// TestPythonUnitTests runs python/tests (malformed recorder input: wrong model, missing
// optimizer state, mismatched index table, a schedule not stepped per iteration, each one
// PollabTorchError of one line).
func TestPythonUnitTests(t *testing.T) {
	pynumpy.RequireTorch(t)
	abs, _ := filepath.Abs("../python/tests")
	if out, err := pyRun("-m", "unittest", "discover", "-s", abs); err != nil {
		t.Fatalf("python unit tests: %v\n%s", err, out)
	}
}

// TestJiaProofConvertsAndVerifies: a proof in the layout of Jia et al.'s reference code
// (testdata/jia_fixture.py: model_step_N pickles with net/optimizer/scheduler state dicts under
// the reference's own module names, indices.npy, hash.txt) converts with pollab_torch
// import-jia and verifies in pollab after the source pickles are deleted; a claim that
// disagrees with the optimizer state and a hostile pickle are refused (exit 2, one line), the
// latter without running its code.
func TestJiaProofConvertsAndVerifies(t *testing.T) {
	pynumpy.RequireTorch(t)
	const ds = "synthetic:n=256,test=64,dim=64,classes=10,seed=3"
	dataFile := exportData(t, ds)
	fixture, _ := filepath.Abs("testdata/jia_fixture.py")
	root := t.TempDir()
	if out, err := pyRun(fixture, dataFile, root); err != nil {
		t.Fatalf("jia_fixture.py: %v\n%s", err, out)
	}
	src := filepath.Join(root, "synthetic_1")
	conv := filepath.Join(t.TempDir(), "converted")
	args := []string{"import-jia", src, conv, dataFile, "--model", "mlp:64-32-10:relu", "--epochs", "1"}
	if _, err := pyTorchErr(append(args, "--momentum", "0.5")...); err == nil || !strings.Contains(err.Error(), "--momentum 0.5 disagrees with the checkpoints' optimizer/scheduler state (0.9)") {
		t.Fatalf("a wrong momentum claim: %v", err)
	}
	pyTorch(t, append(args, "--lr", "0.1", "--momentum", "0.9", "--weight-decay", "1e-4", "--milestones", "6", "--gamma", "0.1")...)
	if err := os.RemoveAll(src); err != nil { // verification must not need the pickles
		t.Fatal(err)
	}
	err := filepath.WalkDir(conv, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(conv, path)
		switch {
		case rel == proof.ManifestFile, rel == proof.ProvenanceFile, rel == proof.IndicesFile, rel == proof.HashesFile,
			strings.HasPrefix(rel, proof.CheckpointDir+"/") && strings.HasSuffix(rel, ".safetensors"):
			return nil
		}
		return fmt.Errorf("converted proof holds %s", rel)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := prooftest.OpenAll(t, conv)
	m := p.Manifest()
	if m.Steps != 16 || m.K != 4 || m.Batch != 16 || m.DType != "f32" || m.Optimizer.Momentum != 0.9 || !slices.Equal(m.Optimizer.Milestones, []int{6}) {
		t.Fatalf("converted manifest: steps %d k %d batch %d %s optimizer %+v", m.Steps, m.K, m.Batch, m.DType, m.Optimizer)
	}
	for _, key := range []string{"import.flag.dataset_hash", "import.renamed", "import.given", "import.pickles"} {
		if m.Extra[key] == "" {
			t.Errorf("manifest extra lacks %s", key)
		}
	}
	ev, v := verifyEvery(t, p)
	if !v.Accepted {
		t.Fatalf("converted proof rejected: %s %s", v.Check, v.Reason)
	}
	for _, iv := range ev.Intervals {
		if r := iv.Repro[verifier.HparamsTrustCheckpoint]; r == nil || !(r.Raw.L2 <= f32Band*iv.Update.L2) {
			t.Errorf("interval %d: replay %+v, update l2 %.3g", iv.Index, r, iv.Update.L2)
		}
	}

	evil := t.TempDir()
	if out, err := pyRun(fixture, dataFile, evil, "--evil"); err != nil {
		t.Fatalf("jia_fixture.py --evil: %v\n%s", err, out)
	}
	_, err = pyTorchErr("import-jia", filepath.Join(evil, "synthetic_1"), filepath.Join(evil, "out"), dataFile, "--model", "mlp:64-32-10:relu", "--epochs", "1")
	if err == nil || !strings.Contains(err.Error(), "refused by the weights-only unpickler") || strings.Count(strings.TrimSpace(err.(*pyError).stderr), "\n") != 0 {
		t.Fatalf("hostile pickle: %v, want one line refusing it", err)
	}
	if _, err := os.Stat(filepath.Join(evil, "pwned")); err == nil {
		t.Fatal("importing the hostile pickle ran its code")
	}
}

// TestTorchNoiseTablesFromCSV: the committed results/torch-noise tables and figure are what
// `pollab_torch noise --from-csv` computes from the committed per-interval measurements.
func TestTorchNoiseTablesFromCSV(t *testing.T) {
	pynumpy.RequireTorch(t)
	const dir = "../results/torch-noise"
	out := t.TempDir()
	for _, f := range []string{"intervals.csv", "calibration.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pyTorch(t, "noise", "--from-csv", "--out", out)
	for _, f := range []string{"summary.csv", "summary.md", "noise_vs_k.svg"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the committed intervals.csv gives (rerun pollab_torch noise --from-csv)", f)
		}
	}
}
