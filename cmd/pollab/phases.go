package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// plainEvery is how often a plain progress line is printed when stderr is not a terminal.
var plainEvery = 10 * time.Second

// phaseProgress shows an experiment's progress one phase at a time (honest proofs, forgeries,
// verification): on a terminal a bar per phase whose ETA comes from that phase's own rate over
// its uncached work; otherwise a plain line when a phase starts, every plainEvery, and when it
// ends, so a log shows where a long run is.
type phaseProgress struct {
	w       io.Writer
	quiet   bool
	tty     bool
	mu      sync.Mutex
	phase   string
	start   time.Time
	last    time.Time
	total   float64
	done    float64
	bar     *progressbar.ProgressBar
	nowFunc func() time.Time
}

func newPhaseProgress(w io.Writer, quiet, tty bool) *phaseProgress {
	// POLLAB_PROGRESS_EVERY (a Go duration) overrides the plain lines' period.
	if d, err := time.ParseDuration(os.Getenv("POLLAB_PROGRESS_EVERY")); err == nil && d > 0 {
		plainEvery = d
	}
	return &phaseProgress{w: w, quiet: quiet, tty: tty, nowFunc: time.Now}
}

// Update is experiments.Options.Phase.
func (p *phaseProgress) Update(phase string, done, total float64) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.nowFunc()
	if phase != p.phase {
		p.endPhase(now)
		p.phase, p.start, p.last, p.total, p.done = phase, now, now, total, 0
		if p.tty {
			if total > 0 {
				p.bar = newProgress(int(total), phase, false).bar
			}
		} else if total > 0 {
			fmt.Fprintf(p.w, "pollab: %s: %s work units to compute\n", phase, fmtUnits(total))
		} else {
			fmt.Fprintf(p.w, "pollab: %s: all cached\n", phase)
		}
	}
	p.done = done
	if p.bar != nil {
		_ = p.bar.Set(int(done))
		return
	}
	if !p.tty && total > 0 && now.Sub(p.last) >= plainEvery {
		p.last = now
		fmt.Fprintf(p.w, "pollab: %s: %s\n", phase, p.status(now))
	}
}

// status is "45% (1234 of 2740 units), 12s, ETA 15s": the ETA from this phase's rate so far.
func (p *phaseProgress) status(now time.Time) string {
	el := now.Sub(p.start)
	s := fmt.Sprintf("%.0f%% (%s of %s units), %s", 100*p.done/p.total, fmtUnits(p.done), fmtUnits(p.total), el.Round(time.Second))
	if p.done > 0 {
		eta := time.Duration(float64(el) * (p.total - p.done) / p.done)
		s += ", ETA " + eta.Round(time.Second).String()
	}
	return s
}

// endPhase closes the current phase's bar or prints its last line.
func (p *phaseProgress) endPhase(now time.Time) {
	if p.phase == "" {
		return
	}
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
		return
	}
	if !p.tty && p.total > 0 {
		fmt.Fprintf(p.w, "pollab: %s: %s of %s units in %s\n", p.phase, fmtUnits(p.done), fmtUnits(p.total), now.Sub(p.start).Round(time.Second))
	}
}

// Done ends the last phase.
func (p *phaseProgress) Done() {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endPhase(p.nowFunc())
	p.phase = ""
}

func fmtUnits(x float64) string { return fmt.Sprintf("%.0f", x) }
