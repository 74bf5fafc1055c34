package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"pollab/internal/prooftest"
	"pollab/proof"
)

// The last-resort guard turns a panic anywhere below the CLI's main goroutine into exit 2
// and one line, even when the panic value spans several lines.
func TestGuardTurnsAPanicIntoOneLineAndExitTwo(t *testing.T) {
	saved := commands
	t.Cleanup(func() { commands = saved })
	commands = append(append([]*cli.Command(nil), saved...), &cli.Command{
		Name: "test-panic", Hidden: true,
		Action: func(*cli.Context) error { panic(fmt.Errorf("index out of range\ngoroutine 1 [running]")) },
	})
	var code int
	stderr := captureStderr(t, func() { code = run([]string{"pollab", "test-panic"}) })
	if code != exitBadInput {
		t.Errorf("exit %d, want %d", code, exitBadInput)
	}
	msg, ok := strings.CutSuffix(stderr, "\n")
	if !ok || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "pollab: internal error: index out of range") {
		t.Errorf("stderr %q, want one line \"pollab: internal error: ...\"", stderr)
	}
}

// fuzzCorpusEntry is one committed seed of a Go fuzz target.
type fuzzCorpusEntry struct {
	target, name string
	values       []any // []byte or byte, in the target's argument order
}

// readFuzzCorpus parses the "go test fuzz v1" files of pkgDir/testdata/fuzz/target.
func readFuzzCorpus(t *testing.T, pkgDir, target string) []fuzzCorpusEntry {
	t.Helper()
	dir := filepath.Join(pkgDir, "testdata", "fuzz", target)
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("fuzz corpus %s: %v", dir, err)
	}
	var out []fuzzCorpusEntry
	for _, f := range files {
		fh, err := os.Open(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		e := fuzzCorpusEntry{target: target, name: f.Name()}
		for first := true; sc.Scan(); first = false {
			line := strings.TrimSpace(sc.Text())
			if first {
				if line != "go test fuzz v1" {
					t.Fatalf("%s/%s: not a Go fuzz corpus file", dir, f.Name())
				}
				continue
			}
			v, err := parseFuzzValue(line)
			if err != nil {
				t.Fatalf("%s/%s: %v", dir, f.Name(), err)
			}
			e.values = append(e.values, v)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// parseFuzzValue reads the []byte, string and byte/uint8 literals the fuzz corpus format uses.
func parseFuzzValue(line string) (any, error) {
	for _, p := range []string{"[]byte(", "string("} {
		if s, ok := strings.CutPrefix(line, p); ok {
			u, err := strconv.Unquote(strings.TrimSuffix(s, ")"))
			return []byte(u), err
		}
	}
	for _, p := range []string{"byte(", "uint8("} {
		if s, ok := strings.CutPrefix(line, p); ok {
			s = strings.TrimSuffix(s, ")")
			if strings.HasPrefix(s, "'") {
				r, _, _, err := strconv.UnquoteChar(strings.Trim(s, "'"), '\'')
				return byte(r), err
			}
			n, err := strconv.ParseUint(s, 0, 8)
			return byte(n), err
		}
	}
	return nil, fmt.Errorf("unsupported corpus value %.40q", line)
}

// TestNoKnownInputReachesTheGuard feeds every committed fuzz seed of the proof reader to the
// real binary, each placed where its target reads it in a copy of the honest proof (re-signed
// where the target exercises the checks behind the hash): verify and inspect answer 0, 1 or 2
// with at most one line on stderr, and never with the guard's "internal error" or a panic.
// The bad-input table's rows are checked the same way (checkOneLine) in TestBadInputTable.
func TestNoKnownInputReachesTheGuard(t *testing.T) {
	bin := pollabBinary(t)
	base := honestRun.dir(t)
	proofPkg := filepath.Join("..", "..", "proof")
	// FuzzOpenProof's file order (proof/fuzz_test.go: fuzzProof).
	openFiles := []string{proof.ManifestFile, proof.IndicesFile, proof.HashesFile, proof.AugSeedsFile, proof.PayloadFile, proof.ProvenanceFile}
	for s := 0; s <= honestSteps; s += honestK {
		openFiles = append(openFiles, proof.CheckpointName(s))
	}
	type placed struct {
		entry  fuzzCorpusEntry
		file   string
		resign bool
		bytes  []byte
	}
	var inputs []placed
	for _, e := range readFuzzCorpus(t, proofPkg, "FuzzSafetensors") {
		inputs = append(inputs, placed{e, badCkpt, true, e.values[0].([]byte)})
	}
	for _, e := range readFuzzCorpus(t, proofPkg, "FuzzManifest") {
		inputs = append(inputs, placed{e, proof.ManifestFile, false, e.values[0].([]byte)})
	}
	for _, e := range readFuzzCorpus(t, proofPkg, "FuzzIndexTable") {
		inputs = append(inputs, placed{e, proof.IndicesFile, true, e.values[0].([]byte)})
		inputs = append(inputs, placed{e, proof.HashesFile, true, e.values[0].([]byte)})
	}
	for _, e := range readFuzzCorpus(t, proofPkg, "FuzzOpenProof") {
		which := e.values[0].(byte)
		file := openFiles[int(which&0x7f)%len(openFiles)]
		inputs = append(inputs, placed{e, file, which&0x80 != 0 && file != proof.ManifestFile, e.values[1].([]byte)})
	}
	if len(inputs) < 10 {
		t.Fatalf("only %d corpus inputs found", len(inputs))
	}
	for _, in := range inputs {
		t.Run(in.entry.target+"/"+in.entry.name+"/"+filepath.Base(in.file), func(t *testing.T) {
			t.Parallel()
			dir := prooftest.Copy(t, base)
			p := proofEdit{t, dir}
			if in.resign && prooftest.Lists(t, dir, in.file) { // this proof has no augseeds or payload
				p.replace(in.file, in.bytes)
			} else {
				p.write(in.file, in.bytes)
			}
			box := newSandbox(t, bin, dir)
			for _, args := range [][]string{{"verify", dir, "--quiet", "--workers", "1"}, {"inspect", dir}} {
				r := box.run(args...)
				if r.code != exitOK && r.code != exitRejected && r.code != exitBadInput {
					t.Errorf("%v: exit %d (hung: %v); stderr %q", args, r.code, r.hung, r.stderr)
					continue
				}
				checkOneLine(t, args, r, r.code)
			}
		})
	}
}
