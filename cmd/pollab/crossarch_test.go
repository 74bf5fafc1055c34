package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// crossBuild is one way of building pollab: an architecture, build tags, and how to run it.
type crossBuild struct {
	name, goarch, tags string
	emulator           string // "" runs natively
}

func (b crossBuild) command(bin string, args ...string) *exec.Cmd {
	if b.emulator == "" {
		return exec.Command(bin, args...)
	}
	return exec.Command(b.emulator, append([]string{bin}, args...)...)
}

// goBuild runs go build/test -c for b into out.
func (b crossBuild) goBuild(t *testing.T, out string, args ...string) {
	t.Helper()
	cmdArgs := append([]string{}, args[0], "-o", out)
	if b.tags != "" {
		cmdArgs = append(cmdArgs, "-tags", b.tags)
	}
	cmdArgs = append(cmdArgs, args[1:]...)
	cmd := exec.Command("go", cmdArgs...)
	cmd.Env = append(os.Environ(), "GOARCH="+b.goarch, "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: go %s: %v\n%s", b.name, strings.Join(cmdArgs, " "), err, o)
	}
}

// TestCrossArchitecture: pollab built for amd64, for amd64 with -tags purego (no assembly
// GEMM kernels) and for arm64 (run under qemu-aarch64; Go fuses multiply-adds there and
// package math's Exp/Log differ) produces byte-identical proofs (every file but
// provenance.json), f32 and f64, and each build accepts the others' proofs at delta 0 on every
// interval: an MLP (uniform init) and a ResNet-8 (kaiming-normal init, BatchNorm; seed 1,
// whose W0 the former NormFloat64 draw gave one weight an ulp apart on arm64). The arm64 and
// purego test binaries of internal/detmath, autodiff, models and prover also pass their
// numeric goldens (FMA32, detmath, the normal sampler and kaiming Init against Python, the
// engine, the PyTorch SGD golden, dataset/schedule/init/proof digests), and a small Gauntlet
// run (every peer kind, every scenario, f32; free-rider noise, OpenSkill ratings and score^2.2
// weights) writes byte-identical peers.csv, global.csv and summaries on every build.
func TestCrossArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles and runs pollab under qemu")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("cross-architecture test runs on amd64 hosts")
	}
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		t.Skip("qemu-aarch64 not found (Debian package qemu-user)")
	}
	builds := []crossBuild{
		{name: "amd64", goarch: "amd64"},
		{name: "amd64-purego", goarch: "amd64", tags: "purego"},
		{name: "arm64", goarch: "arm64", emulator: qemu},
	}
	tmp := t.TempDir()
	for _, b := range builds[1:] {
		for _, pkg := range []string{"internal/detmath", "autodiff", "models", "prover", "gauntlet"} {
			bin := filepath.Join(tmp, b.name+"-"+strings.ReplaceAll(pkg, "/", "-")+".test")
			b.goBuild(t, bin, "test", "-c", "pollab/"+pkg)
			cmd := b.command(bin, "-test.short", "-test.run", "FMA32|DetMath|SGDGolden|Golden|RateVectors")
			cmd.Dir = filepath.Join("..", "..", pkg) // testdata
			if o, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %s goldens: %v\n%s", b.name, pkg, err, o)
			}
		}
	}

	runs := []struct {
		name string
		args []string
	}{
		{"mlp", []string{"train", "--model", "mlp:16-8-4:tanh", "--dataset", "synthetic:n=128,test=32,dim=16,classes=4,seed=3",
			"--epochs", "2", "--batch", "16", "--lr", "0.1", "--momentum", "0.9", "--weight-decay", "5e-4",
			"--milestones", "1", "-k", "4", "--quiet"}},
		{"resnet8", []string{"train", "--model", "resnet:8:1x8x8", "--dataset", "synthetic:n=16,test=8,dim=64,classes=10,seed=3",
			"--epochs", "1", "--batch", "8", "--lr", "0.1", "--momentum", "0.9", "--weight-decay", "5e-4",
			"-k", "1", "--seed", "1", "--quiet"}},
	}
	bins := map[string]string{}
	for _, b := range builds {
		bins[b.name] = filepath.Join(tmp, "pollab-"+b.name)
		b.goBuild(t, bins[b.name], "build", "pollab/cmd/pollab")
	}
	crossGauntlet(t, builds, bins, tmp)
	for _, run := range runs {
		for _, dt := range []string{"f32", "f64"} {
			what := run.name + " " + dt
			dirs := map[string]string{}
			digests := map[string]string{}
			for _, b := range builds {
				dirs[b.name] = filepath.Join(tmp, run.name+"-"+dt+"-"+b.name)
				cmd := b.command(bins[b.name], append(run.args, "--dtype", dt, "--out", dirs[b.name])...)
				if o, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s train %s: %v\n%s", b.name, what, err, o)
				}
				digests[b.name] = dirDigest(t, dirs[b.name])
			}
			for _, b := range builds[1:] {
				if digests[b.name] != digests["amd64"] {
					t.Errorf("%s: %s proof differs from amd64's:\n%s\n%s", what, b.name, digests[b.name], digests["amd64"])
				}
			}
			// Each build verifies the next one's proof at delta 0, every interval.
			for i, b := range builds {
				other := builds[(i+1)%len(builds)]
				cmd := b.command(bins[b.name], "verify", dirs[other.name], "--q", "0", "--delta", "0", "--workers", "1", "--quiet")
				if o, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s verifying %s's %s proof at delta 0: %v\n%s", b.name, other.name, what, err, o)
				}
			}
		}
	}
}

// gauntletSpec is a small Gauntlet (seconds natively, under a minute in qemu): every peer kind,
// four windows, so the free-riders copy and add noise from window 1 on and OpenSkill rates
// each window's scored peers.
const gauntletSpec = `name = "crossarch"
description = "cross-architecture check: every peer kind, a few windows"
model = "mlp:16-16-4:relu"
dataset = "synthetic:n=512,test=128,dim=16,classes=4,seed=1"
dtype = "f32"
seeds = [5]
windows = 4
workers = 1
[peer]
inner_steps = 2
batch = 16
lr = 0.1
[validator]
uids_per_window = 5
bin_size = 8
eval_points = 64
beta = 1.0
clip = "median"
ema = 0.95
penalty = 0.75
power = 2.2
aggregation = "median"
outer_lr = 1.0
test_points = 128
[peers]
honest = 4
free_rider_noise = [0.1, 0.5, 1.0, 2.0]
replayer = 1
lazy_zero = 1
lazy_random = 1
lazy_random_std = 0.001
off_assignment = 1
scaled_copier = [3.0]
malformed = 1
`

// crossGauntlet runs gauntletSpec with every build and requires the result files of the
// others to be amd64's bytes.
func crossGauntlet(t *testing.T, builds []crossBuild, bins map[string]string, tmp string) {
	t.Helper()
	spec := filepath.Join(tmp, "gauntlet.toml")
	if err := os.WriteFile(spec, []byte(gauntletSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []string{"peers.csv", "global.csv", "summary.md", "summary.csv", "summary.json"}
	out := map[string]map[string][]byte{}
	for _, b := range builds {
		dir := filepath.Join(tmp, "gauntlet-"+b.name)
		cmd := b.command(bins[b.name], "gauntlet", "--quiet", "--out", dir, spec)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s gauntlet: %v\n%s", b.name, err, o)
		}
		out[b.name] = map[string][]byte{}
		for _, f := range files {
			raw, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			out[b.name][f] = raw
		}
	}
	for _, b := range builds[1:] {
		for _, f := range files {
			if !bytes.Equal(out[b.name][f], out["amd64"][f]) {
				t.Errorf("gauntlet %s: %s differs from amd64's", f, b.name)
			}
		}
	}
}

// dirDigest lists "path sha256" of every file in dir but provenance.json, in path order.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "provenance.json" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, fmt.Sprintf("%s %s", filepath.ToSlash(rel), hex.EncodeToString(s[:8])))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestNoCompilerFMA compiles pollab's numeric packages for arm64, where Go fuses x*y + z into
// one instruction unless a conversion rounds the product (amd64 never fuses), and fails on any
// fused multiply-add the compiler chose in them: each would make arm64 compute other bits than
// amd64. math.FMA, fused on purpose, is allowed. Plotting code (experiments' figure files) is
// not a stored numeric result and is not checked.
func TestNoCompilerFMA(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles pollab for arm64 with -S")
	}
	pkgs := []string{"internal/detmath", "autodiff", "models", "data", "proof", "prover", "stats", "verifier", "attacks/...", "gauntlet", "experiments"}
	var patterns []string
	for _, p := range pkgs {
		patterns = append(patterns, "pollab/"+p)
	}
	// The build cache replays the compiler's -S output, so a warm cache makes this cheap.
	cmd := exec.Command("go", append([]string{"build", "-gcflags=pollab/...=-S"}, patterns...)...)
	cmd.Env = append(os.Environ(), "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build for arm64: %v\n%.2000s", err, out)
	}
	fused, seen := 0, map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !slices.Contains([]string{"FMADDD", "FMSUBD", "FNMADDD", "FNMSUBD", "FMADDS", "FMSUBS", "FNMADDS", "FNMSUBS"}, f[3]) {
			continue
		}
		fused++
		loc := strings.Trim(f[2], "()") // /path/file.go:line
		i := strings.LastIndex(loc, ":")
		file, ln := loc[:i], loc[i+1:]
		base := filepath.Base(file)
		if strings.Contains(file, string(filepath.Separator)+"experiments"+string(filepath.Separator)) && (strings.HasPrefix(base, "fig") || strings.HasPrefix(base, "plot")) {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var n int
		fmt.Sscan(ln, &n)
		lines := strings.Split(string(src), "\n")
		if n >= 1 && n <= len(lines) && strings.Contains(lines[n-1], "math.FMA") {
			continue
		}
		if !seen[loc] {
			seen[loc] = true
			t.Errorf("compiler-fused multiply-add at %s: %s (write float64(x*y) + z)", loc, strings.TrimSpace(lines[max(0, n-1)]))
		}
	}
	t.Logf("%d fused instructions in the arm64 build of %s, %d not allowed", fused, strings.Join(pkgs, " "), len(seen))
}
