package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
	"pollab/verifier"
)

const (
	verifyTestModel   = "mlp:16-8-4:relu"
	verifyTestDataset = "synthetic:n=128,test=32,dim=16,classes=4,seed=7"
)

// TestVerifyAndCalibrateCLI runs pollab verify and calibrate in-process on a tiny honest
// proof: exit 0 on acceptance, 1 on rejection, 2 on bad input, and the --json document.
func TestVerifyAndCalibrateCLI(t *testing.T) {
	cfg := prover.Config{
		Model: verifyTestModel, Dataset: verifyTestDataset, DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.1, Momentum: 0.9, Gamma: 0.1}, Batch: 16, Epochs: 3, K: 4, Seed: 5,
	}
	dir := prooftest.Train(t, cfg)
	quiet := []string{"--workers", "1", "--quiet"}
	exit := func(args ...string) int {
		t.Helper()
		extra := quiet
		if args[0] == "calibrate" {
			extra = []string{"--quiet"}
		}
		code, _ := captureRun(t, append(args, extra...)...)
		return code
	}
	if c := exit("verify", dir); c != exitOK {
		t.Errorf("honest proof at reference thresholds: exit %d", c)
	}
	// The human summary names the audit seed only when audits are drawn.
	for audit, want := range map[string]bool{"0": false, "1": true} {
		code, out := captureRun(t, append([]string{"verify", dir, "--audit", audit, "--audit-seed", "77"}, quiet...)...)
		if code != exitOK || !strings.Contains(out, "policy: ") || strings.Contains(out, "audit seed 77") != want {
			t.Errorf("verify --audit %s: exit %d, want the audit seed printed: %v\n%s", audit, code, want, out)
		}
	}
	if c := exit("verify", dir, "--q", "0", "--delta", "0", "--hparams", "enforce-manifest", "--membership"); c != exitOK {
		t.Errorf("honest proof, exact env, delta 0: exit %d", c)
	}
	// Holm's correction never rejects where min-p accepts (it tests each tensor at alpha/m).
	if c := exit("verify", dir, "--init-correction", "holm", "--delta", "0"); c != exitOK {
		t.Errorf("honest proof under Holm's init correction: exit %d", c)
	}
	if c := exit("verify", dir, "--epoch-rule", "verify.py", "--delta", "0"); c != exitOK {
		t.Errorf("honest proof under verify.py's epoch rule: exit %d", c)
	}
	// The registered checks' flags: the seed commitment (the prover recorded none, so the
	// recorded seeds stand for it; a nonce the proof was not committed under rejects), exact
	// replay, and a task file (the proof's own claims pass; another T rejects; a malformed
	// file is one line, exit 2).
	if c := exit("verify", dir, "--commitment", "--exact-replay"); c != exitOK {
		t.Errorf("honest proof, --commitment --exact-replay: exit %d", c)
	}
	if c := exit("verify", dir, "--commit-nonce", "challenge"); c != exitRejected {
		t.Errorf("uncommitted proof, --commit-nonce: exit %d, want 1", c)
	}
	task := verifier.TaskOf(prooftest.ReadManifest(t, dir))
	taskFile := filepath.Join(t.TempDir(), "task.json")
	for _, steps := range []int{task.Steps, task.Steps * 10} {
		task.Steps = steps
		b, _ := json.Marshal(task)
		if err := os.WriteFile(taskFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want := exitOK
		if steps != prooftest.ReadManifest(t, dir).Steps {
			want = exitRejected
		}
		if c := exit("verify", dir, "--task", taskFile); c != want {
			t.Errorf("task with T = %d: exit %d, want %d", steps, c, want)
		}
	}
	badTask := filepath.Join(t.TempDir(), "task.toml")
	if err := os.WriteFile(badTask, []byte("model = \"mlp:16-8-4:relu\"\nsteps = \"many\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"verify", dir, "--task", badTask, "--workers", "1", "--quiet"}
	if msg := checkOneLine(t, args, newSandbox(t, pollabBinary(t), dir, badTask).run(args...), exitBadInput); !strings.Contains(msg, "task.toml") {
		t.Errorf("malformed task file: %q does not name the file", msg)
	}

	// Flags before the directory work too.
	if c := exit("verify", "--env", "dtype", "--delta", "0", dir); c != exitRejected {
		t.Errorf("dtype env at delta 0: exit %d, want 1", c)
	}
	for _, bad := range [][]string{
		{"verify", dir, "--normalized"},
		{"verify", dir, "--env", "gpu"},
		{"verify", dir, "--delta", "l2=-1"},
		{"verify", dir, "--metrics", "l3"},
		{"verify", dir, "--hparams", "trust-nobody"},
		{"verify", dir, "--epoch-rule", "round"},
		{"verify", dir, "--init-correction", "bonferroni"},
		{"verify", dir, "--commit-nonce", "bell\x07"},
		{"verify", dir, "--task", filepath.Join(dir, "no-such-task.toml")},
		{"verify", dir, "--task", dir},
		{"verify", filepath.Join(dir, "missing")},
		{"verify"},
		{"calibrate", "--model", verifyTestModel, "--dataset", verifyTestDataset, "--seeds", "1,1", "--out", filepath.Join(t.TempDir(), "x.json")},
	} {
		if c := exit(bad...); c != exitBadInput {
			t.Errorf("%v: exit %d, want 2", bad, c)
		}
	}

	dref := filepath.Join(t.TempDir(), "dref.json")
	if c := exit("calibrate", "--model", verifyTestModel, "--dataset", verifyTestDataset, "--epochs", "3", "--batch", "16",
		"--lr", "0.1", "--momentum", "0.9", "--dtype", "f32", "--seeds", "1,2", "--out", dref); c != exitOK {
		t.Fatalf("calibrate: exit %d", c)
	}
	cal, err := verifier.LoadCalibration(dref)
	if err != nil || cal.DRef.L2 <= 0 || cal.Steps != 24 {
		t.Fatalf("calibration %+v: %v", cal, err)
	}

	if cal.Optimizer != "sgd" || cal.DType != "f32" || cal.Model != verifyTestModel {
		t.Errorf("calibration does not record its setup: %+v", cal)
	}
	// A d_ref calibrated under another setup is bad input (one line naming both setups)
	// unless forced.
	for name, edit := range map[string]func(c *verifier.Calibration){
		"dtype":     func(c *verifier.Calibration) { c.DType = "f64" },
		"model":     func(c *verifier.Calibration) { c.Model = "mlp:16-9-4:relu" },
		"dataset":   func(c *verifier.Calibration) { c.Dataset = "synthetic:n=128,test=32,dim=16,classes=4,seed=8" },
		"optimizer": func(c *verifier.Calibration) { c.Hyper.Momentum = 0 },
	} {
		other := *cal
		edit(&other)
		path := filepath.Join(t.TempDir(), "other.json")
		if err := other.Save(path); err != nil {
			t.Fatal(err)
		}
		args := []string{"verify", dir, "--normalized", "--dref", path, "--metrics", "l2", "--workers", "1", "--quiet"}
		box := newSandbox(t, pollabBinary(t), dir)
		msg := checkOneLine(t, args, box.run(args...), exitBadInput)
		if !strings.Contains(msg, other.Setup()) || !strings.Contains(msg, cal.Setup()) {
			t.Errorf("d_ref of another %s: %q does not name both setups", name, msg)
		}
		forced := box.run(append(args, "--force-dref")...)
		checkOneLine(t, args, forced, exitOK)
		if !strings.Contains(forced.stderr, "warning: --force-dref") {
			t.Errorf("d_ref of another %s with --force-dref: no warning in %q", name, forced.stderr)
		}
	}

	evPath := filepath.Join(t.TempDir(), "evidence.json")
	code, out := captureRun(t, append([]string{"verify", dir, "--env", "microbatch:4", "--normalized", "--dref", dref,
		"--q", "1", "--metrics", "l2", "--audit", "1", "--json", "--evidence", evPath}, quiet...)...)
	if code != exitOK {
		t.Fatalf("normalised verify: exit %d\n%s", code, out)
	}
	var rep struct {
		Verdict            verifier.Verdict `json:"verdict"`
		Env                string           `json:"env"`
		ReexecutedFraction float64          `json:"reexecuted_fraction"`
		ExpectedFraction   float64          `json:"expected_fraction"`
		Ledger             autodiff.Cost    `json:"ledger"`
		Evidence           struct {
			TopQ    []int `json:"topq_intervals"`
			Audited []int `json:"audited_intervals"`
		} `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	// S = 8, k = 4: one interval per epoch and metric is Q·k/S = 0.5 of training; with one
	// audit per epoch, all 6 intervals of the 3 epochs are re-executed.
	if !rep.Verdict.Accepted || rep.Env != "microbatch:4" || rep.ExpectedFraction != 0.5 ||
		len(rep.Evidence.TopQ) != 3 || len(rep.Evidence.Audited) != 3 || rep.ReexecutedFraction != 1 || rep.Ledger.Backward == 0 {
		t.Errorf("report: %+v", rep)
	}
	b, err := os.ReadFile(evPath)
	if err != nil || !strings.Contains(string(b), `"intervals"`) || !strings.Contains(string(b), `"audit_nonce"`) {
		t.Errorf("evidence file: %v\n%.300s", err, b)
	}
	// The audit draw replays with the recorded seed.
	code, out2 := captureRun(t, append([]string{"verify", dir, "--normalized", "--dref", dref, "--q", "1", "--metrics", "l2",
		"--audit", "1", "--audit-seed", verifyUint(rep.Verdict.AuditSeed), "--json"}, quiet...)...)
	if code != exitOK || !strings.Contains(out2, `"audit_seed": `+verifyUint(rep.Verdict.AuditSeed)) {
		t.Errorf("replay with --audit-seed: exit %d\n%.400s", code, out2)
	}

	// Swapped batch indices, re-signed: rejected by the data check (exit 1).
	tampered := prooftest.Copy(t, dir)
	idx := filepath.Join(tampered, proof.IndicesFile)
	buf, _ := os.ReadFile(idx)
	a, c := 16+4*3, 16+4*(5*16+1) // step 0 entry 3 and step 5 entry 1
	va, vc := binary.LittleEndian.Uint32(buf[a:]), binary.LittleEndian.Uint32(buf[c:])
	binary.LittleEndian.PutUint32(buf[a:], vc)
	binary.LittleEndian.PutUint32(buf[c:], va)
	prooftest.Resign(t, tampered, proof.IndicesFile, buf)
	if c := exit("verify", tampered); c != exitRejected {
		t.Errorf("swapped indices: exit %d, want 1", c)
	}
}

func verifyUint(v uint64) string { b, _ := json.Marshal(v); return string(b) }

// TestBuildNote: a proof records this binary's build in provenance.json and verify says
// nothing about it; a proof of another architecture gets a one-line note that results are
// designed to be identical, one of another engine semantics a note that replay may differ.
func TestBuildNote(t *testing.T) {
	dir := prooftest.Train(t, prover.Config{
		Model: verifyTestModel, Dataset: verifyTestDataset, DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.1, Gamma: 0.1}, Batch: 16, Epochs: 1, K: 4, Seed: 5,
	})
	open := func() *proof.Proof { return prooftest.OpenAll(t, dir) }
	prov, ok := open().Provenance()
	if !ok || prov.Build == nil || *prov.Build != autodiff.ThisBuild() {
		t.Fatalf("provenance build %+v, want %+v", prov.Build, autodiff.ThisBuild())
	}
	if n := buildNote(open()); n != "" {
		t.Errorf("own build: note %q", n)
	}
	for _, c := range []struct {
		edit func(*autodiff.Build)
		want string
	}{
		{func(b *autodiff.Build) { b.GOARCH = "arm64-test" }, "designed to be identical"},
		{func(b *autodiff.Build) { b.Semantics = autodiff.Semantics - 1 }, "exact replay may differ"},
	} {
		b := autodiff.ThisBuild()
		c.edit(&b)
		prov.Build = &b
		raw, err := json.Marshal(prov)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, proof.ProvenanceFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		n := buildNote(open())
		if !strings.Contains(n, c.want) || strings.Contains(n, "\n") || !strings.Contains(n, b.String()) {
			t.Errorf("build %s: note %q, want one line naming it and %q", b, n, c.want)
		}
	}
}
