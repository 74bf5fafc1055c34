package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"pollab/internal/filetest"
	"pollab/proof"
)

// normalizedEvidence reads an --evidence file and drops what legitimately differs between
// two verifications of the same proof: costs, wall time, cache use and the secret nonce (the
// audit seed is fixed by the caller).
func normalizedEvidence(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ev, _ := doc["evidence"].(map[string]any)
	if ev == nil {
		t.Fatalf("%s has no evidence", path)
	}
	for _, k := range []string{"ledger", "wall_ns", "reexecuted_steps", "reexecuted_fraction", "cache_hits", "audit_nonce"} {
		delete(ev, k)
	}
	ivs, _ := ev["intervals"].([]any)
	for _, iv := range ivs {
		repro, _ := iv.(map[string]any)["repro"].(map[string]any)
		for _, r := range repro {
			delete(r.(map[string]any), "cached")
		}
	}
	return doc
}

// cacheEntriesValid counts the cache files under their final names and checks that each is
// a whole entry; temp files of an interrupted write are allowed, partial final files are not.
func cacheEntriesValid(t *testing.T, dir string) int {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		var entry struct {
			Key string `json:"key"`
		}
		if err != nil || json.Unmarshal(b, &entry) != nil || entry.Key == "" {
			t.Errorf("cache file %s is not a whole entry: %v %q", e.Name(), err, b)
		}
		n++
	}
	return n
}

func countFinal(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// TestKilledVerificationRerunGivesTheSameVerdict kills `pollab verify --cache` with SIGKILL
// mid-way through its re-executions, reruns it on the same cache, and compares the verdict
// and the evidence with an uninterrupted verification: equal (costs, cache use and timing
// aside), with the rerun served partly from what the killed run had cached.
func TestKilledVerificationRerunGivesTheSameVerdict(t *testing.T) {
	bin := pollabBinary(t)
	dir := longProof(t, 111) // 1,000 checkpoints, 999 one-step intervals
	tmp := fastTempDir(t)    // a thousand fsynced cache entries per run
	args := func(cache, evidence string) []string {
		// Every interval re-executed in a non-exact env, so distances are not all zero.
		return []string{"verify", dir, "--q", "0", "--env", "microbatch:2", "--audit", "1", "--audit-seed", "7",
			"--workers", "1", "--quiet", "--cache", cache, "--evidence", evidence}
	}
	refEvidence := filepath.Join(tmp, "reference.json")
	ref := exec.Command(bin, args(filepath.Join(tmp, "ref-cache"), refEvidence)...)
	refOut, refErr := ref.CombinedOutput()
	if refErr != nil {
		t.Fatalf("uninterrupted verification: %v\n%s", refErr, refOut)
	}

	cache, evidence := filepath.Join(tmp, "cache"), filepath.Join(tmp, "evidence.json")
	cmd := exec.Command(bin, args(cache, evidence)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	atKill := 0
wait:
	for {
		select {
		case err := <-done:
			t.Fatalf("verification finished (%v) before it was killed: make it longer", err)
		case <-time.After(time.Millisecond):
			if n := countFinal(cache); n >= 150 {
				if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
					t.Fatal(err)
				}
				<-done
				break wait
			}
		}
	}
	atKill = cacheEntriesValid(t, cache)
	t.Logf("killed with %d of 999 re-executions cached", atKill)
	if _, err := os.Stat(evidence); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed verification left %s (%v)", evidence, err)
	}

	rerun := exec.Command(bin, args(cache, evidence)...)
	if out, err := rerun.CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	got, want := normalizedEvidence(t, evidence), normalizedEvidence(t, refEvidence)
	t.Logf("verdict %v", want["verdict"])
	if !reflect.DeepEqual(got["verdict"], want["verdict"]) {
		t.Errorf("verdict after kill and rerun %v, uninterrupted %v", got["verdict"], want["verdict"])
	}
	if !reflect.DeepEqual(got, want) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		t.Errorf("evidence after kill and rerun differs from an uninterrupted verification:\n%.2000s\n%.2000s", a, b)
	}
	var raw struct {
		Evidence struct {
			CacheHits int `json:"cache_hits"`
		} `json:"evidence"`
	}
	b, _ := os.ReadFile(evidence)
	if json.Unmarshal(b, &raw); raw.Evidence.CacheHits < atKill {
		t.Errorf("rerun used %d cached re-executions, the killed run had written %d", raw.Evidence.CacheHits, atKill)
	}
}

// mountTiny mounts a 64 KiB tmpfs (a disk that fills up) and skips when that is not allowed.
func mountTiny(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillUp writes a file until the file system is full.
func fillUp(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestFullDiskLeavesNoPartialFile runs train and verify with their output on a file system
// that fills up: exit 2 with one line naming the problem, and no partial file under a final
// name (every checkpoint or table that exists is byte-identical to an uninterrupted run's; no
// manifest; no evidence file; every cache file a whole entry).
func TestFullDiskLeavesNoPartialFile(t *testing.T) {
	bin := pollabBinary(t)
	trainArgs := []string{"train", "--model", honestModel, "--dataset", honestDataset, "--epochs", "8", "--batch", "8",
		"--k", "1", "--lr", "0.1", "--momentum", "0.9", "--seed", "5", "--quiet"} // 65 checkpoints of 2 KB

	t.Run("train", func(t *testing.T) {
		refDir := filepath.Join(t.TempDir(), "ref")
		if out, err := exec.Command(bin, append(trainArgs, "--out", refDir)...).CombinedOutput(); err != nil {
			t.Fatalf("reference run: %v\n%s", err, out)
		}
		ref := filetest.ReadTree(t, refDir)
		out := filepath.Join(mountTiny(t), "proof")
		args := append(trainArgs, "--out", out)
		r := newSandbox(t, bin).run(args...)
		msg := checkOneLine(t, args, r, exitBadInput)
		if !strings.Contains(msg, "no space left on device") {
			t.Errorf("message %q does not say the disk is full", msg)
		}
		got := filetest.ReadTree(t, out)
		if _, ok := got[proof.ManifestFile]; ok {
			t.Error("a failed run wrote manifest.json")
		}
		complete := 0
		for name, b := range got {
			want, ok := ref[name]
			switch {
			case !ok && strings.HasPrefix(filepath.Base(name), "."):
				// the writer's own bookkeeping (its pending manifest), never a proof file
			case !ok:
				t.Errorf("%s: not a file of the finished proof", name)
			case !bytes.Equal(b, want):
				t.Errorf("%s: %d bytes under its final name, not the %d-byte file of an uninterrupted run", name, len(b), len(want))
			default:
				complete++
			}
		}
		t.Logf("%d complete files when the disk filled up: %q", complete, msg)
		// The interrupted run resumes elsewhere into the same proof: what it left is usable.
		moved := filepath.Join(t.TempDir(), "moved")
		if err := os.CopyFS(moved, os.DirFS(out)); err != nil {
			t.Fatal(err)
		}
		if o, err := exec.Command(bin, append(trainArgs, "--out", moved, "--resume")...).CombinedOutput(); err != nil {
			t.Fatalf("resume after a full disk: %v\n%s", err, o)
		}
		resumed := filetest.ReadTree(t, moved)
		for name, want := range ref {
			if name != proof.ProvenanceFile && !bytes.Equal(resumed[name], want) {
				t.Errorf("%s differs after resuming the full-disk run", name)
			}
		}
	})

	t.Run("evidence", func(t *testing.T) {
		dir := honestRun.dir(t)
		tiny := mountTiny(t)
		fillUp(t, tiny)
		path := filepath.Join(tiny, "evidence.json")
		args := []string{"verify", dir, "--quiet", "--workers", "1", "--evidence", path}
		r := newSandbox(t, bin, dir).run(args...)
		msg := checkOneLine(t, args, r, exitBadInput)
		if !strings.Contains(msg, "evidence") || !strings.Contains(msg, "no space left on device") {
			t.Errorf("message %q does not name the evidence file and the full disk", msg)
		}
		entries, _ := os.ReadDir(tiny)
		for _, e := range entries {
			if e.Name() != "filler" {
				t.Errorf("%s left on the full disk", e.Name())
			}
		}
	})

	t.Run("cache", func(t *testing.T) {
		dir := longProof(t, 1)
		tiny := mountTiny(t)
		cache := filepath.Join(tiny, "cache")
		if err := os.Mkdir(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		fillUp(t, tiny)
		args := []string{"verify", dir, "--quiet", "--q", "0", "--workers", "1", "--cache", cache}
		r := newSandbox(t, bin, dir).run(args...)
		msg := checkOneLine(t, args, r, exitBadInput)
		if !strings.Contains(msg, "re-execution cache") || !strings.Contains(msg, "no space left on device") {
			t.Errorf("message %q does not name the cache and the full disk", msg)
		}
		cacheEntriesValid(t, cache)
		entries, _ := os.ReadDir(cache)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("temp file %s left in the cache", e.Name())
			}
		}
	})
}
