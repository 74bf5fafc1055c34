package main

// The harness of the process-level tests (bad input, crashes, memory): one pollab binary per
// test process, the small honest proofs several tests start from (each trained once per
// process), and a sandbox that runs the binary with its own working, temp and home
// directories so a test can assert that nothing was written outside the output directory.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pollab/autodiff"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/prover"
)

// harnessDir holds what the whole test process shares (the binary, the honest proof);
// fastDir is a directory in memory when /dev/shm is usable (proofs of a thousand fsynced
// checkpoints), else harnessDir. TestMain removes both.
var harnessDir, fastDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "pollab-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(2)
	}
	harnessDir, fastDir = d, d
	if f, err := os.MkdirTemp("/dev/shm", "pollab-cli-test-"); err == nil {
		fastDir = f
	}
	code := m.Run()
	os.RemoveAll(d)
	os.RemoveAll(fastDir)
	os.Exit(code)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// pollabBinary builds the command once per test process (on first use, so that in-process
// tests and -short runs do not pay for it) and skips under -short.
func pollabBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the pollab binary")
	}
	binOnce.Do(func() {
		binPath = filepath.Join(harnessDir, "pollab")
		out, err := exec.Command("go", "build", "-o", binPath, "pollab/cmd/pollab").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// The honest proof every bad-input row mutates: T = 16 steps, k = 4 (checkpoints 0, 4, 8,
// 12, 16), f32 with momentum (so checkpoints hold parameters and momentum buffers).
const (
	honestModel   = "mlp:16-8-4:relu"
	honestDataset = "synthetic:n=64,test=16,dim=16,classes=4,seed=3"
	honestN       = 64
	honestSteps   = 16
	honestK       = 4
	honestBatch   = 8
)

// sharedRun is an honest run whose proof several tests start from: trained once per test
// process (on first use) into harnessDir/name; callers copy it before changing anything.
type sharedRun struct {
	name  string
	cfg   prover.Config
	proof prooftest.Shared
}

// dir trains the run on the first call and returns its proof's directory.
func (r *sharedRun) dir(t *testing.T) string {
	t.Helper()
	return r.proof.Dir(t, r.cfg, filepath.Join(harnessDir, r.name))
}

var (
	// honestRun is the honest proof described above.
	honestRun = &sharedRun{name: "honest", cfg: prover.Config{
		Model: honestModel, Dataset: honestDataset, DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.1, Momentum: 0.9, Gamma: 0.1}, Batch: honestBatch, Epochs: 2, K: honestK, Seed: 5,
	}}
	// tanhRun is the target the attack tests forge from (TestZhangCLI and
	// TestAttacksFromABareSafetensorsFile): plain SGD at lr 0.05, f32, B = 16 (S = 16 steps
	// per epoch), 2 epochs (T = 32), k = 4.
	tanhRun = &sharedRun{name: "tanh", cfg: prover.Config{
		Model: "mlp:12-8-4:tanh", Dataset: "synthetic:n=256,test=32,dim=12,classes=4,seed=3", DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.05}, Batch: 16, Epochs: 2, K: 4, Seed: 5,
	}}
)

// Long proofs of a small model with k = 1 (N = 72, B = 8: 9 steps per epoch), so the number
// of checkpoints is 9·epochs + 1; about 19 KB per checkpoint.
const (
	longModel   = "mlp:64-32-10:relu"
	longDataset = "synthetic:n=72,test=16,dim=64,classes=10,seed=3"
)

var (
	longMu     sync.Mutex
	longProofs = map[int]string{}
)

// longProof trains (once per process) the proof of the given number of epochs under fastDir.
func longProof(t *testing.T, epochs int) string {
	t.Helper()
	longMu.Lock()
	defer longMu.Unlock()
	if dir, ok := longProofs[epochs]; ok {
		return dir
	}
	dir := filepath.Join(fastDir, fmt.Sprintf("long-%d", epochs))
	cfg := prover.Config{
		Model: longModel, Dataset: longDataset, DType: autodiff.Float32,
		Hyper: proof.Hyper{LR: 0.05, Momentum: 0.9, Gamma: 0.1}, Batch: 8, Epochs: epochs, K: 1, Seed: 9,
	}
	if _, err := prover.Train(context.Background(), cfg, dir, prover.Options{}); err != nil {
		t.Fatal(err)
	}
	longProofs[epochs] = dir
	return dir
}

// fastTempDir is a fresh directory under fastDir, removed when the test ends.
func fastTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp(fastDir, "t-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// proofEdit mutates one proof directory.
type proofEdit struct {
	t   *testing.T
	dir string
}

func (p proofEdit) path(rel string) string { return filepath.Join(p.dir, filepath.FromSlash(rel)) }

func (p proofEdit) read(rel string) []byte {
	p.t.Helper()
	b, err := os.ReadFile(p.path(rel))
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

// write replaces a file's bytes without touching the manifest (so its SHA-256 no longer matches).
func (p proofEdit) write(rel string, b []byte) {
	p.t.Helper()
	if err := os.WriteFile(p.path(rel), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p proofEdit) remove(rel string) {
	p.t.Helper()
	if err := os.Remove(p.path(rel)); err != nil {
		p.t.Fatal(err)
	}
}

// edit changes the decoded manifest.
func (p proofEdit) edit(f func(m *proof.Manifest)) {
	p.t.Helper()
	prooftest.EditManifest(p.t, p.dir, f)
}

// editText changes manifest.json as text, for what the Go types cannot express.
func (p proofEdit) editText(old, new string) {
	p.t.Helper()
	b := p.read(proof.ManifestFile)
	if !bytes.Contains(b, []byte(old)) {
		p.t.Fatalf("manifest has no %q", old)
	}
	p.write(proof.ManifestFile, bytes.Replace(b, []byte(old), []byte(new), 1))
}

// replace writes new bytes for rel and re-signs them in the manifest (size and SHA-256), so the
// mutation reaches the checks behind the hash, as an attacker's would.
func (p proofEdit) replace(rel string, b []byte) { p.t.Helper(); prooftest.Resign(p.t, p.dir, rel, b) }

// snapshot records every entry under dir without following symlinks or opening anything
// that is not a regular file (a FIFO must not block the test): mode, size and, for small
// files, the SHA-256 of the content (large ones by size and modification time).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case info.Mode().IsRegular() && info.Size() <= 1<<20:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:])
		case info.Mode().IsRegular():
			desc += fmt.Sprintf(" %d bytes, modified %s", info.Size(), info.ModTime().Format(time.RFC3339Nano))
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffSnapshots names what changed between two snapshots ("" when nothing did).
func diffSnapshots(before, after map[string]string) string {
	var diffs []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if w != v {
			diffs = append(diffs, "changed "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "created "+k)
		}
	}
	return strings.Join(diffs, ", ")
}

// procResult is one finished run of the binary.
type procResult struct {
	code           int
	stdout, stderr string
	hung           bool
}

// sandbox runs the binary with fresh working, temp and home directories and checks afterwards
// that the process left them empty and did not change the watched directories.
type sandbox struct {
	t       *testing.T
	bin     string
	timeout time.Duration
	watch   []string // directories that must be unchanged after each run (e.g. the proof)
	env     []string // extra environment
}

func newSandbox(t *testing.T, bin string, watch ...string) *sandbox {
	return &sandbox{t: t, bin: bin, timeout: 2 * time.Minute, watch: watch}
}

func (s *sandbox) run(args ...string) procResult {
	s.t.Helper()
	root := s.t.TempDir()
	cwd, tmp, home := filepath.Join(root, "cwd"), filepath.Join(root, "tmp"), filepath.Join(root, "home")
	for _, d := range []string{cwd, tmp, home} {
		if err := os.Mkdir(d, 0o755); err != nil {
			s.t.Fatal(err)
		}
	}
	before := make([]map[string]string, len(s.watch))
	for i, w := range s.watch {
		before[i] = snapshot(s.t, w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), append([]string{"TMPDIR=" + tmp, "HOME=" + home}, s.env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := procResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.hung, res.code = true, -1
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		s.t.Fatalf("%v: %v", args, err)
	}
	for _, d := range []string{cwd, tmp, home} {
		if entries, _ := os.ReadDir(d); len(entries) > 0 {
			s.t.Errorf("%v wrote %s into its %s directory", args, entries[0].Name(), filepath.Base(d))
		}
	}
	for i, w := range s.watch {
		if d := diffSnapshots(before[i], snapshot(s.t, w)); d != "" {
			s.t.Errorf("%v changed %s: %s", args, w, d)
		}
	}
	return res
}

// checkOneLine asserts the bad-input contract on a finished run: exit code want, exactly one
// line on stderr starting "pollab: ", no panic or goroutine dump, and no internal error (the
// last-resort guard is for inputs nobody thought of, not for known ones).
func checkOneLine(t *testing.T, args []string, r procResult, want int) string {
	t.Helper()
	if r.hung {
		t.Errorf("%v hung (killed after the sandbox timeout)", args)
		return ""
	}
	if r.code != want {
		t.Errorf("%v: exit %d, want %d; stderr %q", args, r.code, want, r.stderr)
	}
	all := r.stdout + r.stderr
	for _, bad := range []string{"panic", "goroutine", "internal error"} {
		if strings.Contains(all, bad) {
			t.Errorf("%v: output mentions %q:\n%s", args, bad, all)
		}
	}
	if want == exitOK {
		return ""
	}
	msg, ok := strings.CutSuffix(r.stderr, "\n")
	if !ok || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "pollab: ") {
		t.Errorf("%v: stderr %q, want exactly one line \"pollab: ...\"", args, r.stderr)
	}
	return msg
}

// capture runs f with *stream (os.Stdout or os.Stderr) redirected to a pipe and returns what
// was written to it; the stream is restored even when f panics.
func capture(t *testing.T, stream **os.File, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := *stream
	*stream = w
	out := make(chan string)
	go func() { b, _ := io.ReadAll(r); out <- string(b) }()
	restore := func() {
		if *stream == w {
			*stream = saved
			w.Close()
		}
	}
	defer restore()
	f()
	restore()
	return <-out
}

// captureStdout is what f printed to os.Stdout.
func captureStdout(t *testing.T, f func()) []byte { return []byte(capture(t, &os.Stdout, f)) }

// captureStderr is what f wrote to os.Stderr.
func captureStderr(t *testing.T, f func()) string { return capture(t, &os.Stderr, f) }

// captureRun runs the CLI in-process and returns its exit code and stdout.
func captureRun(t *testing.T, args ...string) (code int, stdout string) {
	t.Helper()
	stdout = capture(t, &os.Stdout, func() { code = run(append([]string{"pollab"}, args...)) })
	return code, stdout
}

// verifyExit is the exit code of pollab verify DIR --workers 1 --quiet ARGS, run in-process.
func verifyExit(t *testing.T, dir string, args ...string) int {
	t.Helper()
	code, _ := captureRun(t, append([]string{"verify", dir, "--workers", "1", "--quiet"}, args...)...)
	return code
}
