package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"pollab/attacks"
	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/atomicfile"
	"pollab/internal/specfile"
	"pollab/models"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
	"pollab/verifier"
)

// Options control how Run executes a spec, not what it computes.
type Options struct {
	// Out is the results directory (created if needed).
	Out string
	// CacheDir holds proofs, evidence and re-executions (default Out/cache). Specs sharing a
	// cache share every artefact with equal content hash.
	CacheDir string
	// Workers overrides the spec's worker count (0: the spec's, whose 0 means NumCPU).
	Workers int
	// Progress is called with overall done/total work units (about one SGD step each).
	Progress func(done, total int, note string)
	// Phase, when set, is called with the progress of the current phase (honest proofs,
	// forgeries, verification): units done and the phase's total, counting only work that is
	// not cached (a rerun's phases are empty), so a rate and ETA taken within a phase hold.
	Phase func(phase string, done, total float64)
	// Version and Command are recorded in provenance (the CLI passes its own).
	Version string
	Command []string
	// NoFigures skips drawing (tests that only compare CSVs).
	NoFigures bool
	// Style sizes the figures (zero value: DefaultStyle).
	Style Style
}

// RunLedger counts what a run actually computed (cache hits excluded): a rerun of a finished
// run shows zeros everywhere except the cached counts.
type RunLedger struct {
	ProofsBuilt     int           `json:"proofs_built"`
	ProofsCached    int           `json:"proofs_cached"`
	TrainedSteps    int           `json:"trained_steps"`    // honest SGD steps run
	ForgedSteps     int           `json:"forged_steps"`     // steps claimed by forgeries made
	EvidenceBuilt   int           `json:"evidence_built"`   // (proof, env) verifications run
	EvidenceCached  int           `json:"evidence_cached"`  // loaded from the evidence cache
	ReexecutedSteps int           `json:"reexecuted_steps"` // verifier SGD steps re-executed
	ProverCost      autodiff.Cost `json:"prover_cost"`      // of proofs built in this run
	VerifierCost    autodiff.Cost `json:"verifier_cost"`
}

// Report is what Run produced.
type Report struct {
	Out      string        `json:"out"`
	CSV      string        `json:"csv"`
	Rows     int           `json:"rows"`
	Figures  []string      `json:"figures"` // PNG paths
	Notes    []string      `json:"notes"`   // measured values the figures annotate
	Summary  *Summary      `json:"-"`
	Ledger   RunLedger     `json:"ledger"`
	Wall     time.Duration `json:"wall_ns"`
	SpecHash string        `json:"spec_hash"`
	// Reruns, in run.json only: the ledger and wall time of each later run of the same spec
	// into the directory; Ledger and Wall above stay the first run's.
	Reruns []RerunLedger `json:"reruns,omitempty"`
}

// RerunLedger is what one later run computed.
type RerunLedger struct {
	Ledger RunLedger     `json:"ledger"`
	Wall   time.Duration `json:"wall_ns"`
}

// appendReport returns what run.json should hold after rep: rep, or, when path holds the
// report of a run of the same spec, rep's outputs with the first run's ledger and wall time
// and rep's own appended to the reruns.
func appendReport(path string, rep *Report) *Report {
	var prev Report
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &prev) != nil || prev.SpecHash != rep.SpecHash {
		return rep
	}
	out := *rep
	out.Ledger, out.Wall = prev.Ledger, prev.Wall
	out.Reruns = append(prev.Reruns, RerunLedger{Ledger: rep.Ledger, Wall: rep.Wall})
	return &out
}

// Result file names inside Options.Out.
const (
	ResultsCSV     = "results.csv"
	SummaryJSON    = "summary.json"
	SummaryMD      = "summary.md"
	SummaryCSV     = "summary.csv"
	ProvenanceJSON = "provenance.json"
	RunJSON        = "run.json"
	FiguresDir     = "figures"
)

// auditNonce fixes the verifier's secret nonce, so cached Evidence is reproducible; the grid
// sets explicit audit seeds anyway.
const auditNonce uint64 = 0x706f6c6c6162 // "pollab"

// proofJob is one proof to have on disk: honest training or a forgery against a target.
type proofJob struct {
	kind        string
	model       string
	seed        uint64
	dir         string
	key         string  // content hash of what determines the proof (names its directory)
	weight      float64 // estimated work units
	weightMax   float64 // bound on them (data-dependent retries), >= weight
	honest      *prover.Config
	attack      *AttackSpec
	target      *proofJob
	steps       int     // requested T' (forgeries), or T
	k           int     // requested k
	attackDelta float64 // normalised crafting gap (NaN when none)
	// filled once the proof exists
	info *proofInfo
}

// proofInfo is what the CSV needs to know about a proof on disk.
type proofInfo struct {
	manifestSHA string
	steps, k    int
	checkpoints int
	params      int
	dataset     string
	dtype       string
	cost        autodiff.Cost
	flopsStep   float64 // 3·F·B of one honest gradient step
	// final holds the last checkpoint's weights of an honest proof until calibrate has used
	// them (nil afterwards, and always for forgeries): a long run must not hold every proof's.
	final []float64
}

// runner holds one Run's state.
type runner struct {
	spec    *Spec
	opt     Options
	workers int
	cache   string
	reexec  *verifier.Cache

	mu       sync.Mutex
	ledger   RunLedger
	total    float64
	done     float64
	running  map[int]float64 // job id -> fraction done x weight
	nextID   int
	lastNote string
	// the current phase: its name, the overall done units when it began, its uncached total
	phase      string
	phaseBase  float64
	phaseTotal float64

	dref map[string]stats.Distances // per model
}

// engineBuild is the engine build (autodiff semantics, BLAS, GOARCH) in the honest-proof and
// Evidence cache keys, so that nothing computed by another engine is reused. Forgeries and
// calibrations inherit it through their target's and proofs' keys. A variable for tests.
var engineBuild = autodiff.ThisBuild().Key()

// Run executes spec end to end into opt.Out: proofs, forgeries, verification of the whole
// grid, results.csv, the summary, provenance and (unless NoFigures) the figures.
func Run(ctx context.Context, spec *Spec, opt Options) (*Report, error) {
	start := time.Now()
	r, err := newRunner(spec, opt)
	if err != nil {
		return nil, err
	}
	honest, forged, err := r.plan()
	if err != nil {
		return nil, err
	}
	if err := r.openReexec(); err != nil {
		return nil, err
	}
	r.estimate(append(slices.Clone(honest), forged...))

	r.startPhase("honest proofs", uncachedWeight(honest))
	if err := r.pool(ctx, "honest proofs", honest, r.buildProof); err != nil {
		return nil, err
	}
	if err := r.calibrate(honest); err != nil {
		return nil, err
	}
	r.startPhase("forgeries", uncachedWeight(forged))
	if err := r.pool(ctx, "forgeries", forged, r.buildProof); err != nil {
		return nil, err
	}
	all := append(slices.Clone(honest), forged...)
	rows, err := r.verifyAll(ctx, all)
	if err != nil {
		return nil, err
	}
	SortRows(rows)
	rep := &Report{Out: opt.Out, CSV: filepath.Join(opt.Out, ResultsCSV), Rows: len(rows), SpecHash: spec.Hash()}
	if err := WriteCSVFile(rep.CSV, rows); err != nil {
		return nil, err
	}
	// Everything downstream is computed from the CSV as written, not from memory.
	rows, err = ReadCSVFile(rep.CSV)
	if err != nil {
		return nil, err
	}
	rep.Summary = Summarize(rows)
	if err := WriteSummary(opt.Out, rep.Summary); err != nil {
		return nil, err
	}
	if err := WriteTables(opt.Out, rep.Summary, rows); err != nil {
		return nil, err
	}
	crafting, err := r.craftingRows(forged)
	if err != nil {
		return nil, err
	}
	if len(crafting) > 0 {
		if err := WriteCrafting(opt.Out, crafting); err != nil {
			return nil, err
		}
		rep.Notes = append(rep.Notes, craftingNotes(crafting)...)
	}
	if !opt.NoFigures {
		style := opt.Style
		if style.Name == "" {
			style, _ = StyleNamed(DefaultStyle)
		}
		measured, err := ReadMeasured(opt.Out) // kept from an earlier `pollab figures --measured`
		if err != nil {
			return nil, err
		}
		figs, err := DrawFigures(rows, filepath.Join(opt.Out, FiguresDir), style, measured...)
		if err != nil {
			return nil, err
		}
		for _, f := range figs {
			rep.Figures = append(rep.Figures, filepath.Join(opt.Out, FiguresDir, f.Name+".png"))
			rep.Notes = append(rep.Notes, f.Notes...)
		}
	}
	rep.Ledger = r.ledger
	rep.Wall = time.Since(start)
	if err := atomicfile.WriteJSON(filepath.Join(opt.Out, RunJSON), appendReport(filepath.Join(opt.Out, RunJSON), rep)); err != nil {
		return nil, err
	}
	prov := newProvenance(spec, opt, start, rep, r.dref)
	if err := atomicfile.WriteJSON(filepath.Join(opt.Out, ProvenanceJSON), appendRun(filepath.Join(opt.Out, ProvenanceJSON), prov)); err != nil {
		return nil, err
	}
	r.report("done")
	return rep, nil
}

// newRunner resolves opt's defaults (workers, cache directory); it writes nothing (a spec
// whose data or model is bad leaves no directory behind), openReexec does.
func newRunner(spec *Spec, opt Options) (*runner, error) {
	if opt.Out == "" {
		return nil, errors.New("run: no output directory")
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = spec.Workers
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	cacheDir := opt.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(opt.Out, "cache")
	}
	r := &runner{spec: spec, opt: opt, workers: workers, cache: cacheDir,
		running: map[int]float64{}, dref: map[string]stats.Distances{}}
	return r, nil
}

// openReexec opens (creating it) the re-execution cache.
func (r *runner) openReexec() error {
	reexec, err := verifier.NewCache(filepath.Join(r.cache, "reexec"))
	if err != nil {
		return err
	}
	r.reexec = reexec
	return nil
}

// WriteSummary writes summary.json, summary.md and summary.csv into dir.
func WriteSummary(dir string, s *Summary) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, SummaryJSON), s.JSONValue()); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, SummaryMD), s.Markdown()); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, SummaryCSV), s.CSV())
}

// plan expands the spec into proof jobs, each with its cache directory.
func (r *runner) plan() (honest, forged []*proofJob, err error) {
	s := r.spec
	dt, err := autodiff.ParseDType(s.DType)
	if err != nil {
		return nil, nil, fmt.Errorf("spec dtype: %w", err)
	}
	train, err := data.Load(s.Dataset, data.Train)
	if err != nil {
		return nil, nil, fmt.Errorf("spec dataset: %w", err)
	}
	n := train.Len()
	stepsT := data.ScheduleSteps(n, s.Train.Batch, s.Train.Epochs)
	if stepsT < 1 {
		return nil, nil, fmt.Errorf("spec: %d points, batch %d, %d epochs give no training step", n, s.Train.Batch, s.Train.Epochs)
	}
	for _, spec := range s.Models {
		m, err := models.Parse(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("spec model: %w", err)
		}
		if err := train.Fits(spec, m.InputShape(), m.Classes()); err != nil {
			return nil, nil, fmt.Errorf("spec: %w", err)
		}
		targets := map[uint64]*proofJob{}
		for _, k := range s.Train.K {
			for _, seed := range s.Seeds {
				cfg := prover.Config{
					Model: m.Spec(), Dataset: s.Dataset, DType: dt, Batch: s.Train.Batch, Epochs: s.Train.Epochs, K: k, Seed: seed,
					Hyper: proof.Hyper{LR: s.Train.LR, Momentum: s.Train.Momentum, WeightDecay: s.Train.WeightDecay,
						Milestones: prover.MilestoneSteps(s.Train.Milestones, n, s.Train.Batch), Gamma: s.Train.Gamma},
					Augment: s.Train.Augment, RecordAugSeeds: s.Train.RecordAugSeeds,
				}
				key := specfile.Hash(struct {
					Format string
					Build  string
					Config prover.Config
				}{"honest/2", engineBuild, cfg})[:16]
				j := &proofJob{kind: KindHonest, model: m.Spec(), seed: seed, honest: &cfg, steps: stepsT, k: k, key: key,
					dir: filepath.Join(r.cache, "proofs", fmt.Sprintf("honest-s%d-k%d-%s", seed, k, key)), weight: float64(stepsT), weightMax: float64(stepsT),
					attackDelta: math.NaN()}
				honest = append(honest, j)
				if k == s.Train.K[0] {
					targets[seed] = j
				}
			}
		}
		for ai := range s.Attacks {
			a := &s.Attacks[ai]
			plan := a.Config.Plan()
			label := a.Config.Label()
			steps := plan.Steps
			if len(steps) == 0 {
				steps = []int{stepsT}
			}
			deltas := plan.Deltas
			if len(deltas) == 0 {
				deltas = []float64{math.NaN()}
			}
			for _, seed := range s.Seeds {
				target := targets[seed]
				for _, t := range steps {
					for _, d := range deltas {
						k := plan.K
						if k == 0 {
							k = target.k
						}
						key := specfile.Hash(struct {
							Format string
							Attack AttackSpec
							Steps  int
							Delta  string
							Target string
						}{"attack/2", *a, t, ff(d), target.key})[:16]
						j := &proofJob{kind: label, model: m.Spec(), seed: seed, attack: a, target: target, key: key,
							steps: t, k: k, attackDelta: d,
							dir: filepath.Join(r.cache, "proofs", fmt.Sprintf("%s-s%d-t%d-%s", label, seed, t, key))}
						j.weight, j.weightMax = a.Config.Weight(t, k)
						forged = append(forged, j)
					}
				}
			}
		}
	}
	return honest, forged, nil
}

// estimate sets the progress total: proofs not yet on disk plus the verification they need.
func (r *runner) estimate(jobs []*proofJob) {
	verifyFrac := 0.0
	if slices.Contains(r.spec.Verify.Q, 0) {
		verifyFrac = 1
	} else {
		verifyFrac = 0.5
	}
	for _, j := range jobs {
		if !proofComplete(j.dir) {
			r.total += j.weight
		}
		r.total += float64(verifyFrac * float64(j.steps) * float64(len(r.spec.Verify.Envs)))
	}
}

// uncachedWeight is the work of the jobs whose proof is not on disk yet.
func uncachedWeight(jobs []*proofJob) float64 {
	w := 0.0
	for _, j := range jobs {
		if !proofComplete(j.dir) {
			w += j.weight
		}
	}
	return w
}

// doneLocked is the overall work done, finished jobs plus the running ones' fractions.
func (r *runner) doneLocked() float64 {
	done := r.done
	for _, v := range r.running {
		done += v
	}
	return done
}

// startPhase begins a phase whose uncached work is total units.
func (r *runner) startPhase(name string, total float64) {
	r.mu.Lock()
	r.phase, r.phaseBase, r.phaseTotal = name, r.doneLocked(), total
	r.mu.Unlock()
	r.report(name)
}

// report forwards overall and phase progress to the caller.
func (r *runner) report(note string) {
	if r.opt.Progress == nil && r.opt.Phase == nil {
		return
	}
	r.mu.Lock()
	done := r.doneLocked()
	total := r.total
	if note == "" {
		note = r.lastNote
	}
	r.lastNote = note
	phase, phaseDone, phaseTotal := r.phase, done-r.phaseBase, r.phaseTotal
	r.mu.Unlock()
	if r.opt.Progress != nil {
		r.opt.Progress(int(math.Min(done, total)), int(total), note)
	}
	if r.opt.Phase != nil && phase != "" {
		r.opt.Phase(phase, math.Min(phaseDone, phaseTotal), phaseTotal)
	}
}

// pool runs work over items with r.workers goroutines; the first error cancels the rest.
func (r *runner) pool(ctx context.Context, stage string, jobs []*proofJob, work func(context.Context, *proofJob, func(float64)) error) error {
	return runPool(ctx, r, stage, len(jobs), func(ctx context.Context, i int, frac func(float64)) error {
		return work(ctx, jobs[i], frac)
	}, func(i int) float64 { return jobs[i].weight })
}

// runPool is the worker pool: n items, weight(i) progress units each.
func runPool(ctx context.Context, r *runner, stage string, n int, work func(context.Context, int, func(float64)) error, weight func(int) float64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan int)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	for w := 0; w < min(r.workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range items {
				r.mu.Lock()
				id := r.nextID
				r.nextID++
				r.mu.Unlock()
				wgt := weight(i)
				frac := func(f float64) {
					r.mu.Lock()
					r.running[id] = math.Max(0, math.Min(1, f)) * wgt
					r.mu.Unlock()
					r.report(stage)
				}
				err := work(ctx, i, frac)
				r.mu.Lock()
				delete(r.running, id)
				r.mu.Unlock()
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case items <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(items)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("%s: %w", stage, firstErr)
	}
	return ctx.Err()
}

// proofComplete reports whether dir holds a finished, valid proof.
func proofComplete(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, proof.ManifestFile)); err != nil {
		return false
	}
	_, err := proof.Open(dir)
	return err == nil
}

// buildProof makes sure j's proof is on disk (training or forging it if needed) and loads
// what the CSV needs about it.
func (r *runner) buildProof(ctx context.Context, j *proofJob, frac func(float64)) error {
	if proofComplete(j.dir) {
		r.mu.Lock()
		r.ledger.ProofsCached++
		r.mu.Unlock()
	} else {
		var (
			cost    autodiff.Cost
			trained int
			forged  int
			err     error
		)
		if j.honest != nil {
			cost, trained, err = r.train(ctx, j, frac)
		} else {
			cost, forged, err = r.forge(ctx, j, frac)
		}
		if err != nil {
			return fmt.Errorf("%s seed %d: %w", j.kind, j.seed, err)
		}
		r.mu.Lock()
		r.ledger.ProofsBuilt++
		r.ledger.TrainedSteps += trained
		r.ledger.ForgedSteps += forged
		r.ledger.ProverCost = r.ledger.ProverCost.Add(cost)
		r.done += j.weight
		r.mu.Unlock()
	}
	info, err := loadProofInfo(j.dir)
	if err != nil {
		return fmt.Errorf("%s seed %d: %w", j.kind, j.seed, err)
	}
	if j.honest == nil {
		info.final = nil // only honest proofs calibrate d_ref
	}
	j.info = info
	return nil
}

// train runs (or resumes) an honest proof in place: prover.Train's resume continues a
// killed run from its last checkpoint.
func (r *runner) train(ctx context.Context, j *proofJob, frac func(float64)) (autodiff.Cost, int, error) {
	if err := os.MkdirAll(filepath.Dir(j.dir), 0o755); err != nil {
		return autodiff.Cost{}, 0, fmt.Errorf("proof cache: %w", err)
	}
	res, err := prover.Train(ctx, *j.honest, j.dir, prover.Options{
		Resume:   true,
		Progress: func(done, total int, _ string) { frac(float64(done) / float64(max(total, 1))) },
		Command:  r.opt.Command, Version: r.opt.Version,
	})
	if err != nil {
		return autodiff.Cost{}, 0, err
	}
	trained := res.Steps
	if res.ResumedFrom > 0 {
		trained -= res.ResumedFrom
	}
	return res.Cost, trained, nil
}

// forge runs one spoofer into a scratch directory and renames it into place when finished,
// so a killed forgery leaves nothing that looks complete.
func (r *runner) forge(ctx context.Context, j *proofJob, frac func(float64)) (autodiff.Cost, int, error) {
	target, err := attacks.LoadTarget(j.target.dir)
	if err != nil {
		return autodiff.Cost{}, 0, err
	}
	dref := r.dref[j.model]
	seed := data.SubSeed(j.seed, "experiments:"+j.kind, j.steps)
	f := attacks.Forgery{Target: target, Steps: j.steps, K: j.k, Seed: seed}
	if !math.IsNaN(j.attackDelta) {
		b, err := attacks.NewBudget(stats.MetricL2, j.attackDelta, &dref)
		if err != nil {
			return autodiff.Cost{}, 0, err
		}
		f.Budget = &b
	}
	atk, err := j.attack.Config.New(f)
	if err != nil {
		return autodiff.Cost{}, 0, err
	}
	tmp := j.dir + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return autodiff.Cost{}, 0, fmt.Errorf("clear %s: %w", tmp, err)
	}
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return autodiff.Cost{}, 0, fmt.Errorf("proof cache: %w", err)
	}
	res, err := atk.Forge(ctx, target, tmp, attacks.Options{
		Progress: func(done, total int, _ string) { frac(float64(done) / float64(max(total, 1))) },
		Command:  r.opt.Command,
	})
	if err != nil {
		return autodiff.Cost{}, 0, err
	}
	// The attack's full report (per-step crafting statistics and the like) stays beside the
	// proof, for the crafting table; the proof itself holds only what verification reads.
	var report any = res
	if res.Report != nil {
		report = res.Report
	}
	if err := os.MkdirAll(filepath.Dir(r.reportPath(j)), 0o755); err != nil {
		return autodiff.Cost{}, 0, fmt.Errorf("report cache: %w", err)
	}
	if err := atomicfile.WriteJSON(r.reportPath(j), report); err != nil {
		return autodiff.Cost{}, 0, err
	}
	if err := os.RemoveAll(j.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return autodiff.Cost{}, 0, fmt.Errorf("replace %s: %w", j.dir, err)
	}
	if err := os.Rename(tmp, j.dir); err != nil {
		return autodiff.Cost{}, 0, fmt.Errorf("finish forged proof: %w", err)
	}
	return res.Cost, res.Steps, nil
}

// loadProofInfo reads the facts the CSV reports about a finished proof.
func loadProofInfo(dir string) (*proofInfo, error) {
	p, err := proof.Open(dir)
	if err != nil {
		return nil, err
	}
	m := p.Manifest()
	model, err := models.Parse(m.Model)
	if err != nil {
		return nil, fmt.Errorf("proof %s: %w", dir, err)
	}
	sha, err := fileSHA256(filepath.Join(dir, proof.ManifestFile))
	if err != nil {
		return nil, err
	}
	last, err := p.Checkpoint(p.NumCheckpoints() - 1)
	if err != nil {
		return nil, fmt.Errorf("proof %s: final checkpoint: %w", dir, err)
	}
	cost, _ := p.Cost()
	return &proofInfo{
		manifestSHA: sha, steps: m.Steps, k: m.K, checkpoints: p.NumCheckpoints(), params: model.NumParams(),
		dataset: m.Dataset.Name, dtype: m.DType, cost: cost,
		flopsStep: 3 * model.FLOPsPerSample() * float64(m.Batch), final: last.Params,
	}, nil
}

// calibrate sets d_ref per model: the distance between the final weights of the two
// calibration seeds' honest proofs at the first k (everything else equal), and records it in
// the cache (calibration/, keyed by the two proofs' hashes) for jobs run elsewhere (RunJob).
// It then drops every honest proof's final weights, which nothing else needs.
func (r *runner) calibrate(honest []*proofJob) error {
	defer func() {
		for _, j := range honest {
			if j.info != nil {
				j.info.final = nil
			}
		}
	}()
	for _, model := range r.spec.Models {
		pair, err := r.calibrationPair(model, honest)
		if err != nil {
			return err
		}
		d := stats.Distance(pair[0].info.final, pair[1].info.final)
		if !(d.L1 > 0 && d.L2 > 0 && d.Linf > 0 && d.Cos > 0) {
			return fmt.Errorf("calibrate %s: the two calibration runs end at distance %v: d_ref must be positive in every metric", model, d)
		}
		if err := atomicfile.WriteJSON(r.calibrationPath(model, pair), d); err != nil {
			return err
		}
		r.dref[canonicalModel(model)] = d
	}
	return nil
}

// calibrationPair is the honest proofs of the two calibration seeds at the first k.
func (r *runner) calibrationPair(model string, honest []*proofJob) ([]*proofJob, error) {
	var pair []*proofJob
	for _, s := range r.spec.Verify.CalibrationSeeds {
		for _, j := range honest {
			if j.model == canonicalModel(model) && j.seed == s && j.k == r.spec.Train.K[0] {
				pair = append(pair, j)
			}
		}
	}
	if len(pair) != 2 {
		return nil, fmt.Errorf("calibrate %s: need honest proofs of two seeds (calibration_seeds), found %d", model, len(pair))
	}
	return pair, nil
}

// calibrationPath is where d_ref of model, computed from pair, is cached.
func (r *runner) calibrationPath(model string, pair []*proofJob) string {
	key := specfile.Hash(struct {
		Format string
		Model  string
		Proofs [2]string
	}{"calibration/1", canonicalModel(model), [2]string{pair[0].key, pair[1].key}})[:16]
	return filepath.Join(r.cache, "calibration", sanitize(canonicalModel(model))+"-"+key+".json")
}

func canonicalModel(spec string) string {
	m, err := models.Parse(spec)
	if err != nil {
		return spec
	}
	return m.Spec()
}
