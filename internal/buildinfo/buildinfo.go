// Package buildinfo says what code and what machine produced a result, for provenance files.
package buildinfo

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"pollab/autodiff"
)

// GitCommit reads the VCS stamp of the binary, or asks git in the working directory when the
// binary carries none (go run, go test, a build in a git worktree).
func GitCommit() (string, bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, modified := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			return rev, modified
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	status, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
	return strings.TrimSpace(string(out)), err == nil && len(strings.TrimSpace(string(status))) > 0
}

// Machine describes the host.
type Machine struct {
	GOOS     string `json:"goos"`
	GOARCH   string `json:"goarch"`
	NumCPU   int    `json:"num_cpu"`
	CPUModel string `json:"cpu_model,omitempty"`
	// BLAS is autodiff.BLAS(): builds with different GEMMs agree only to rounding, so a
	// bit-exact rerun of the results needs the same one.
	BLAS string `json:"blas"`
}

// Host describes this machine.
func Host() Machine {
	m := Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(), BLAS: autodiff.BLAS()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// String is the machine in one line: "linux/amd64, 2 CPUs, <CPU model>" (the model when known).
func (m Machine) String() string {
	s := fmt.Sprintf("%s/%s, %d CPUs", m.GOOS, m.GOARCH, m.NumCPU)
	if m.CPUModel != "" {
		s += ", " + m.CPUModel
	}
	return s
}

// Version is the code that produced a record: pollab's version and the git checkout it was
// built from. Records embed it, so its JSON fields stand first and in this order.
type Version struct {
	Pollab   string `json:"pollab_version"`
	Commit   string `json:"git_commit,omitempty"`
	Modified bool   `json:"git_modified,omitempty"`
}

// Header opens a provenance file: the code (Version), the Go toolchain and the command line.
type Header struct {
	Version
	GoVersion string   `json:"go_version"`
	Command   []string `json:"command,omitempty"`
}

// NewHeader is the header of a run of pollab version pollab started with command, built
// from the checkout GitCommit finds, with this Go toolchain.
func NewHeader(pollab string, command []string) Header {
	commit, modified := GitCommit()
	return Header{Version: Version{Pollab: pollab, Commit: commit, Modified: modified}, GoVersion: runtime.Version(), Command: command}
}

// Span is when and where a run ran: its start and end (UTC), wall seconds and the host.
type Span struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	WallS   float64   `json:"wall_s"`
	Machine Machine   `json:"machine"`
}

// NewSpan is the span of a run from start to end on this host.
func NewSpan(start, end time.Time) Span {
	return Span{Start: start.UTC(), End: end.UTC(), WallS: end.Sub(start).Seconds(), Machine: Host()}
}
