package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pollab/internal/filetest"
	"pollab/internal/prooftest"
	"pollab/models"
	"pollab/proof"
)

// writeStateDict writes params as PyTorch's safetensors.torch.save_file(model.state_dict())
// would: F32 tensors under the model's names, {"format":"pt"} metadata, the header padded with
// spaces to 8 bytes. It is written by hand (not with the proof package) so the reader is tested
// against the format, not against its own writer.
func writeStateDict(t *testing.T, path string, m models.Model, params []float64) {
	t.Helper()
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var buf []byte
	off := 0
	// Reverse order: the reader must go by offsets, not by the model's tensor order.
	tensors := m.Tensors()
	starts := make([]int, len(tensors))
	for i := range tensors {
		starts[i] = off
		off += tensors[i].Size()
	}
	for i := len(tensors) - 1; i >= 0; i-- {
		ts := tensors[i]
		begin := len(buf)
		for _, v := range params[starts[i] : starts[i]+ts.Size()] {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(v)))
		}
		header[ts.Name] = map[string]any{"dtype": "F32", "shape": ts.Shape, "data_offsets": []int{begin, len(buf)}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), buf...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAttacksFromABareSafetensorsFile steals W_T as a bare safetensors file (an honest proof's
// final weights saved as a state_dict), forges with each spoofer from it, and checks the
// forged proofs with pollab verify (verifier.Gather and Policy.Decide) as the --target DIR
// tests do. The infinitesimal forgery from the file, given the target's claims, is the same
// proof as the one from the directory, byte for byte (provenance.json aside).
func TestAttacksFromABareSafetensorsFile(t *testing.T) {
	cfg := tanhRun.cfg
	honest := tanhRun.dir(t)
	p := prooftest.OpenAll(t, honest)
	final, err := p.Checkpoint(p.NumCheckpoints() - 1)
	if err != nil {
		t.Fatal(err)
	}
	model, err := models.Parse(cfg.Model)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	file := filepath.Join(tmp, "stolen.safetensors")
	writeStateDict(t, file, model, final.Params)
	target := []string{"--target-file", file, "--model", cfg.Model, "--dataset", cfg.Dataset,
		"--target-batch", "16", "--target-lr", "0.05", "--target-epochs", "2", "--target-k", "4"}
	forge := func(name string, targetArgs []string, args ...string) string {
		t.Helper()
		out := filepath.Join(tmp, name)
		all := append(append([]string{"attack", name}, targetArgs...), append([]string{"--out", out, "--quiet"}, args...)...)
		if code, stdout := captureRun(t, all...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s", all, code, stdout)
		}
		return out
	}

	inf := forge("infinitesimal", target, "--delta", "0.05", "--steps", "64", "--k", "8")
	if c := verifyExit(t, inf, "--metrics", "l2", "--delta", "l2=0.05", "--q", "0"); c != exitOK {
		t.Errorf("infinitesimal from the file at its delta: exit %d", c)
	}
	if c := verifyExit(t, inf, "--metrics", "l2", "--delta", "l2=0.05", "--q", "0", "--hparams", "enforce-manifest"); c != exitRejected {
		t.Errorf("infinitesimal from the file under enforce-manifest: exit %d, want 1", c)
	}
	fromDir := filepath.Join(tmp, "infinitesimal-dir")
	if code, _ := captureRun(t, "attack", "infinitesimal", "--target", honest, "--out", fromDir, "--quiet",
		"--delta", "0.05", "--steps", "64", "--k", "8"); code != exitOK {
		t.Fatalf("infinitesimal from the directory: exit %d", code)
	}
	a, b := filetest.ReadTree(t, inf), filetest.ReadTree(t, fromDir)
	if len(a) != len(b) {
		t.Errorf("%d files forged from the file, %d from the directory", len(a), len(b))
	}
	for name, want := range b {
		if name != proof.ProvenanceFile && !bytes.Equal(a[name], want) {
			t.Errorf("%s differs between the forgeries from the file and from the directory", name)
		}
	}

	bf := forge("blindfold", target, "--epochs", "2", "--q", "2", "--k", "2", "--delta", "0.3")
	if c := verifyExit(t, bf, "--metrics", "l2", "--delta", "l2=0.3", "--q", "2"); c != exitOK {
		t.Errorf("blindfold from the file at Q = q: exit %d", c)
	}

	zh := forge("zhang", target, "--variant", "III", "--steps", "16", "--k", "4", "--retries", "1", "--attacker-data", "half")
	if c := verifyExit(t, zh, "--q", "0"); c != exitOK {
		t.Errorf("zhang III from the file, reference thresholds, every interval: exit %d", c)
	}
	if c := verifyExit(t, zh, "--q", "0", "--membership"); c != exitRejected {
		t.Errorf("zhang III from the file under --membership: exit %d, want 1", c)
	}
}

// Bad target files and flag mistakes exit 2 with one line, for every spoofer.
func TestBadTargetFilesExitTwo(t *testing.T) {
	bin := pollabBinary(t)
	dir := t.TempDir()
	model, err := models.Parse(honestModel)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.safetensors")
	writeStateDict(t, good, model, make([]float64, model.NumParams()))
	garbage := filepath.Join(dir, "garbage.safetensors")
	if err := os.WriteFile(garbage, []byte("not a safetensors file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	nan := filepath.Join(dir, "nan.safetensors")
	params := make([]float64, model.NumParams())
	params[3] = math.NaN()
	writeStateDict(t, nan, model, params)
	honest := honestRun.dir(t)
	with := func(file string, extra ...string) []string {
		return append([]string{"--target-file", file, "--model", honestModel, "--dataset", honestDataset}, extra...)
	}
	cases := []struct {
		args []string
		want string
	}{
		{with(filepath.Join(dir, "absent")), "no such file"},
		{with(dir), "not a regular file"},
		{with(garbage), garbage},
		{with(nan), "not finite"},
		{[]string{"--target-file", good, "--model", "mlp:16-9-4:relu", "--dataset", honestDataset}, "shape"},
		{[]string{"--target-file", good, "--model", "mlp:16-8-4:relu", "--dataset", "synthetic:n=64,dim=5,classes=4"}, "features"},
		{[]string{"--target-file", good, "--model", "nonsense", "--dataset", honestDataset}, "nonsense"},
		{[]string{"--target-file", good, "--dataset", honestDataset}, "needs --model"},
		{[]string{"--target", honest, "--target-file", good}, "not both"},
		{[]string{"--target", honest, "--model", honestModel}, "--model goes with --target-file"},
		{with(good, "--target-batch", "0"), "--target-batch 0"},
		{with(good, "--target-momentum", "1"), "momentum"},
		{with(good, "--dtype", "f16"), "--dtype"},
		{nil, "give the stolen model"},
	}
	for _, attack := range [][]string{
		{"infinitesimal", "--delta", "0.1"},
		{"blindfold", "--delta", "0.1"},
		{"zhang"},
	} {
		for _, c := range cases {
			out := filepath.Join(t.TempDir(), "out")
			args := append(append([]string{"attack", attack[0]}, c.args...), append([]string{"--out", out}, attack[1:]...)...)
			msg := checkOneLine(t, args, newSandbox(t, bin, dir).run(args...), exitBadInput)
			if !strings.Contains(msg, c.want) {
				t.Errorf("%v: message %q, want %q", args[1:], msg, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%v created the output directory", args[1:])
			}
		}
	}
}
