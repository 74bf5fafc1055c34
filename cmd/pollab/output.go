package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// printJSON writes one JSON document on stdout (the --json contract).
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// progress is a terminal progress bar on stderr, or nothing when quiet or not a terminal.
type progress struct{ bar *progressbar.ProgressBar }

// newProgress returns a bar for total units; it draws only on an interactive stderr.
func newProgress(total int, desc string, quiet bool) *progress {
	if quiet || !term.IsTerminal(int(os.Stderr.Fd())) || total <= 0 {
		return &progress{}
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("steps"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return &progress{bar: bar}
}

// Update is shaped like the library packages' Progress callbacks.
func (p *progress) Update(done, total int, note string) {
	if p.bar == nil {
		return
	}
	if note != "" {
		p.bar.Describe(note)
	}
	_ = p.bar.Set(done)
}

// Grow is Update for work whose total is known only once it runs: the bar's maximum follows it.
func (p *progress) Grow(done, total int, note string) {
	if p.bar != nil && total > 0 {
		p.bar.ChangeMax(total)
	}
	p.Update(done, total, note)
}

// Done clears the bar.
func (p *progress) Done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// phaseBar is a Progress callback for work whose total is known only once it starts and that
// may come in phases (verify reads the checkpoints, then re-executes): each phase gets its own
// bar, cleared when the phase completes.
type phaseBar struct {
	desc  string // "" names each bar by the first note of its phase
	quiet bool
	bar   *progress
}

func newPhaseBar(desc string, quiet bool) *phaseBar { return &phaseBar{desc: desc, quiet: quiet} }

// Update is shaped like the library packages' Progress callbacks.
func (p *phaseBar) Update(done, total int, note string) {
	if p.bar == nil {
		desc := p.desc
		if desc == "" {
			desc = note
		}
		p.bar = newProgress(total, desc, p.quiet)
	}
	p.bar.Update(done, total, note)
	if done == total {
		p.Done()
	}
}

// Done clears the current bar, if any (also after an error cut a phase short).
func (p *phaseBar) Done() {
	if p.bar != nil {
		p.bar.Done()
		p.bar = nil
	}
}

// stdout or discard: human-readable lines are suppressed under --json.
func humanOut(jsonMode bool) io.Writer {
	if jsonMode {
		return io.Discard
	}
	return os.Stdout
}

func printf(w io.Writer, format string, a ...any) { fmt.Fprintf(w, format, a...) }
