package gauntlet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
)

// Options of a run.
type Options struct {
	Out      string // results directory; per-run state under Out/runs/<scenario>-s<seed>/
	Workers  int    // (scenario, seed) runs at once; 0: the spec's, or the CPU count
	Progress func(done, total int, note string)
	// StopAfter > 0 stops every run after that many new windows with ErrStopped (for tests
	// of resumption); a later Run continues from the state files.
	StopAfter int
	Version   string
	Command   []string
	NoFigures bool
}

// Report is what a run measured.
type Report struct {
	Spec    *Spec
	Peers   []PeerRow   // scenario, seed, window, uid order
	Global  []GlobalRow // scenario, seed, window order
	Summary *Summary
}

type jobKey struct {
	scenario string
	seed     uint64
}

// Run simulates every scenario for every seed (resuming from state files under opt.Out),
// then writes peers.csv, global.csv, summary.{md,csv,json}, provenance.json and figures.
func Run(ctx context.Context, s *Spec, opt Options) (*Report, error) {
	if opt.Out == "" {
		return nil, errors.New("gauntlet: no output directory")
	}
	prov := newProvenance(s, opt)
	var keys []jobKey
	for _, sc := range Scenarios {
		for _, seed := range s.Seeds {
			keys = append(keys, jobKey{sc, seed})
		}
	}
	workers := opt.Workers
	if workers == 0 {
		workers = s.Workers
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	states := make([]*state, len(keys))
	errs := make([]error, len(keys))
	var mu sync.Mutex
	done, total := 0, len(keys)*s.Windows
	progress := func(note string) func() {
		return func() {
			mu.Lock()
			defer mu.Unlock()
			done++
			if opt.Progress != nil {
				opt.Progress(done, total, note)
			}
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				key := keys[k]
				name := fmt.Sprintf("%s-s%d", key.scenario, key.seed)
				j, err := newJob(s, key.scenario, key.seed, filepath.Join(opt.Out, "runs", name))
				if err == nil {
					states[k], err = j.run(ctx, opt.StopAfter, progress(name))
				}
				errs[k] = err
			}
		}()
	}
	for k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if errors.Is(err, ErrStopped) {
			return nil, ErrStopped
		}
		return nil, err
	}
	rep := &Report{Spec: s}
	for _, st := range states {
		rep.Peers = append(rep.Peers, st.Peers...)
		rep.Global = append(rep.Global, st.Global...)
	}
	rep.Summary = Summarize(s, rep.Peers, rep.Global)
	if err := rep.write(opt.Out); err != nil {
		return nil, err
	}
	if !opt.NoFigures {
		if err := DrawFigures(rep, filepath.Join(opt.Out, "figures")); err != nil {
			return nil, err
		}
	}
	if err := prov.finish(opt.Out, rep); err != nil {
		return nil, err
	}
	return rep, nil
}
