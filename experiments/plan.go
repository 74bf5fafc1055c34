package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"pollab/data"
	"pollab/internal/specfile"
	"pollab/models"
	"pollab/proof"
	"pollab/stats"
	"pollab/verifier"
)

// Stages of a sweep's plan, in dependency order: a job needs only outputs of earlier stages,
// which it finds in the cache directory.
const (
	StageHonest    = "honest"    // one honest proof per seed and k
	StageCalibrate = "calibrate" // d_ref per model, from the calibration seeds' proofs
	StageForge     = "forge"     // one forged proof per attack point and target
	StageVerify    = "verify"    // the Evidence of one proof in one env (its re-executions)
	StageMerge     = "merge"     // rows, summary and figures from the cached Evidence
)

// Stages lists the stage names in the order they run.
var Stages = []string{StageHonest, StageCalibrate, StageForge, StageVerify, StageMerge}

// ErrInputsMissing is returned by RunJob for a job whose inputs are not yet in the cache.
var ErrInputsMissing = errors.New("inputs missing")

// Job is one unit of a sweep's plan: any process that sees the cache directory can run it
// (RunJob), and once its output is in the cache it is never run again.
type Job struct {
	Stage string `json:"stage"`
	Index int    `json:"index"`
	// ID is the content hash of what the job computes: the proof's cache key for honest and
	// forge jobs, the hash of (proof key, env, policies) for verify jobs.
	ID   string `json:"id"`
	Name string `json:"name"`
	// FLOPs and Bytes are estimates made before anything runs: gradient steps times the
	// model's 3·F·B (the Ledger's per-step figure), and the files the job writes.
	FLOPs float64 `json:"flops"`
	// FLOPsMax bounds FLOPs where the work depends on the data: Zhang et al.'s retry rule
	// crafts up to zhang.DefaultRetries batches per forged step (FLOPs counts one); the
	// attack's Config.Weight gives both.
	FLOPsMax float64 `json:"flops_max"`
	Bytes    int64   `json:"bytes"`
	// Done: the job's output is already in the cache.
	Done bool `json:"done"`
}

// StagePlan is one stage's jobs, indexed from 0.
type StagePlan struct {
	Name string `json:"name"`
	Jobs []Job  `json:"jobs"`
}

// Missing lists the indices of the stage's jobs that are not done.
func (s StagePlan) Missing() []int {
	var out []int
	for _, j := range s.Jobs {
		if !j.Done {
			out = append(out, j.Index)
		}
	}
	return out
}

// Plan is a spec's work as independent jobs per stage, with what the cache already holds.
type Plan struct {
	Spec     string      `json:"spec"`
	SpecHash string      `json:"spec_hash"`
	Out      string      `json:"out"`
	Cache    string      `json:"cache"`
	Stages   []StagePlan `json:"stages"`
}

// Stage returns the named stage's plan.
func (p *Plan) Stage(name string) (StagePlan, error) {
	for _, s := range p.Stages {
		if s.Name == name {
			return s, nil
		}
	}
	return StagePlan{}, fmt.Errorf("unknown stage %q (want one of %s)", name, strings.Join(Stages, ", "))
}

// Complete reports whether every job of every stage is done.
func (p *Plan) Complete() bool {
	for _, s := range p.Stages {
		if len(s.Missing()) > 0 {
			return false
		}
	}
	return true
}

// Bytes of the files a job writes, beyond the model's parameters (estimates for the plan,
// measured on the demo's cache: Evidence 5.9 MB and re-executions 2.5 MB for 4545 intervals,
// results.csv 465 bytes a row, figures 3.2 MB).
const (
	checkpointOverhead  = 256  // safetensors header of one checkpoint
	proofOverhead       = 4096 // manifest.json, provenance.json
	evidencePerInterval = 1300 // Evidence JSON, per interval of the proof
	reexecPerInterval   = 550  // re-execution cache, per interval and env
	csvRowBytes         = 465
	figureBytes         = 3 << 20
)

// NewPlan expands spec into its jobs and marks those whose outputs opt's cache already holds.
func NewPlan(spec *Spec, opt Options) (*Plan, error) {
	r, honest, forged, err := planRunner(spec, opt, true)
	if err != nil {
		return nil, err
	}
	if err := r.loadCalibration(honest); err != nil && !errors.Is(err, ErrInputsMissing) {
		return nil, err
	}
	p := &Plan{Spec: spec.Name, SpecHash: spec.Hash(), Out: opt.Out, Cache: r.cache}
	// Opening a proof validates it (costly): once per proof, for its stage and its verify jobs.
	shas := map[*proofJob]string{}
	manifestSHA := func(j *proofJob) string {
		sha, ok := shas[j]
		if !ok {
			if proofComplete(j.dir) {
				sha, _ = fileSHA256(filepath.Join(j.dir, proof.ManifestFile))
			}
			shas[j] = sha
		}
		return sha
	}
	proofStage := func(name string, jobs []*proofJob) StagePlan {
		st := StagePlan{Name: name, Jobs: []Job{}}
		for i, j := range jobs {
			f := j.weight * stepFLOPs(j.model, spec.Train.Batch)
			fmax := j.weightMax * stepFLOPs(j.model, spec.Train.Batch)
			st.Jobs = append(st.Jobs, Job{Stage: name, Index: i, ID: j.key, Name: j.name(), FLOPs: f, FLOPsMax: fmax,
				Bytes: proofBytes(j, spec.Train.Batch), Done: manifestSHA(j) != ""})
		}
		return st
	}
	p.Stages = append(p.Stages, proofStage(StageHonest, honest))

	cal := StagePlan{Name: StageCalibrate}
	calDone := len(r.dref) == len(spec.Models)
	var calPaths []string
	for _, m := range spec.Models {
		pair, err := r.calibrationPair(m, honest)
		if err != nil {
			return nil, err
		}
		calPaths = append(calPaths, r.calibrationPath(m, pair))
	}
	cal.Jobs = []Job{{Stage: StageCalibrate, ID: specfile.Hash(calPaths)[:16], Name: "d_ref of " + strings.Join(spec.Models, ", "),
		Bytes: int64(200 * len(spec.Models)), Done: calDone}}
	p.Stages = append(p.Stages, cal)
	p.Stages = append(p.Stages, proofStage(StageForge, forged))

	envs, err := r.envs()
	if err != nil {
		return nil, err
	}
	points, err := r.grid()
	if err != nil {
		return nil, err
	}
	policies := policiesJSON(policiesOf(points))
	policiesHash := specfile.Hash(policies)
	ver := StagePlan{Name: StageVerify}
	for i, vj := range r.verifyJobs(honest, forged, envs) {
		j, e := vj.proof, vj.env
		intervals := (j.steps + j.k - 1) / max(j.k, 1)
		job := Job{Stage: StageVerify, Index: i, Name: j.name() + " in " + e.Name,
			ID:    specfile.Hash(struct{ Format, Proof, Env string }{"verify/1", j.key, e.Name + "/" + policiesHash})[:16],
			FLOPs: r.verifyFrac() * float64(j.steps) * stepFLOPs(j.model, spec.Train.Batch),
			Bytes: int64(intervals * (evidencePerInterval + reexecPerInterval))}
		job.FLOPsMax = job.FLOPs
		if sha := manifestSHA(j); calDone && sha != "" {
			_, err := os.Stat(r.evidencePath(sha, j.model, e, policies))
			job.Done = err == nil
		}
		ver.Jobs = append(ver.Jobs, job)
	}
	p.Stages = append(p.Stages, ver)

	upstream := true
	for _, s := range p.Stages {
		upstream = upstream && len(s.Missing()) == 0
	}
	var last Report
	merged := readJSON(filepath.Join(opt.Out, RunJSON), &last) == nil && last.SpecHash == p.SpecHash
	if _, err := os.Stat(filepath.Join(opt.Out, ProvenanceJSON)); err != nil {
		merged = false
	}
	p.Stages = append(p.Stages, StagePlan{Name: StageMerge, Jobs: []Job{{Stage: StageMerge, ID: p.SpecHash[:16],
		Name: "results.csv, summary, figures in " + opt.Out, Bytes: int64(len(ver.Jobs)*len(points)*csvRowBytes + figureBytes),
		Done: upstream && merged}}})
	return p, nil
}

// planRunner is the runner and proof jobs every plan function starts from.
func planRunner(spec *Spec, opt Options, readOnly bool) (*runner, []*proofJob, []*proofJob, error) {
	r, err := newRunner(spec, opt)
	if err != nil {
		return nil, nil, nil, err
	}
	honest, forged, err := r.plan()
	if err != nil {
		return nil, nil, nil, err
	}
	if !readOnly {
		if err := r.openReexec(); err != nil {
			return nil, nil, nil, err
		}
	}
	return r, honest, forged, nil
}

// verifyJobs is the verify stage in index order: every proof (honest, then forged) in every
// env. The evidence path is left empty: it needs the proof's manifest (evidenceDone, RunJob).
func (r *runner) verifyJobs(honest, forged []*proofJob, envs []verifier.Env) []*verifyJob {
	var out []*verifyJob
	for _, j := range append(slices.Clone(honest), forged...) {
		for _, e := range envs {
			out = append(out, &verifyJob{proof: j, env: e})
		}
	}
	return out
}

// loadCalibration reads d_ref of every model from the cache (written by calibrate); a missing
// file is ErrInputsMissing.
func (r *runner) loadCalibration(honest []*proofJob) error {
	for _, m := range r.spec.Models {
		pair, err := r.calibrationPair(m, honest)
		if err != nil {
			return err
		}
		var d stats.Distances
		path := r.calibrationPath(m, pair)
		if err := readJSON(path, &d); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("d_ref of %s: %w (%s)", m, ErrInputsMissing, path)
			}
			return err
		}
		r.dref[canonicalModel(m)] = d
	}
	return nil
}

// name is the job's proof directory without its hash.
func (j *proofJob) name() string {
	base := filepath.Base(j.dir)
	return strings.TrimSuffix(base, "-"+j.key)
}

// stepFLOPs is 3·F·B: one gradient step of model at batch size batch.
func stepFLOPs(model string, batch int) float64 {
	m, err := models.Parse(model)
	if err != nil {
		return math.NaN()
	}
	return 3 * m.FLOPsPerSample() * float64(batch)
}

// proofBytes estimates a proof's size on disk: float64 checkpoints every k steps, the batch
// indices and hashes of every step, and the crafted points an attack stores (float32,
// Plan.PayloadBatches batches per step).
func proofBytes(j *proofJob, batch int) int64 {
	m, err := models.Parse(j.model)
	if err != nil {
		return 0
	}
	k := max(j.k, 1)
	ckpts := j.steps/k + 1
	if j.steps%k != 0 {
		ckpts++
	}
	b := int64(ckpts)*int64(m.NumParams()*8+checkpointOverhead) + int64(j.steps)*int64(batch*4+32) + proofOverhead
	if j.attack != nil {
		b += int64(j.steps) * int64(j.attack.Config.Plan().PayloadBatches*batch*data.Features(m.InputShape())*4)
	}
	return b
}

// RunJob runs job index of stage: it loads what the job needs from opt's cache, computes
// its output and writes it there atomically. A job whose output is already cached does
// nothing (ran = false); one whose inputs are missing fails with ErrInputsMissing. Only the
// merge job looks at the whole plan; the others check their own inputs and output.
func RunJob(ctx context.Context, spec *Spec, opt Options, stage string, index int) (ran bool, err error) {
	if !slices.Contains(Stages, stage) {
		return false, fmt.Errorf("unknown stage %q (want one of %s)", stage, strings.Join(Stages, ", "))
	}
	r, honest, forged, err := planRunner(spec, opt, false)
	if err != nil {
		return false, err
	}
	envs, err := r.envs()
	if err != nil {
		return false, err
	}
	sizes := map[string]int{StageHonest: len(honest), StageCalibrate: 1, StageForge: len(forged),
		StageVerify: (len(honest) + len(forged)) * len(envs), StageMerge: 1}
	if index < 0 || index >= sizes[stage] {
		return false, fmt.Errorf("stage %s has jobs 0..%d, not %d", stage, sizes[stage]-1, index)
	}
	noProgress := func(float64) {}
	need := func(j *proofJob) error {
		if !proofComplete(j.dir) {
			return fmt.Errorf("%s %d: proof %s: %w", stage, index, j.dir, ErrInputsMissing)
		}
		return nil
	}
	switch stage {
	case StageHonest:
		if proofComplete(honest[index].dir) {
			return false, nil
		}
		return true, r.buildProof(ctx, honest[index], noProgress)
	case StageCalibrate:
		if r.loadCalibration(honest) == nil {
			return false, nil
		}
		for _, m := range spec.Models {
			pair, err := r.calibrationPair(m, honest)
			if err != nil {
				return false, err
			}
			for _, j := range pair {
				if err := need(j); err != nil {
					return false, err
				}
				if j.info, err = loadProofInfo(j.dir); err != nil {
					return false, err
				}
			}
		}
		return true, r.calibrate(honest)
	case StageForge:
		j := forged[index]
		if proofComplete(j.dir) {
			return false, nil
		}
		if err := need(j.target); err != nil {
			return false, err
		}
		if err := r.loadCalibration(honest); err != nil {
			return false, err
		}
		return true, r.buildProof(ctx, j, noProgress)
	case StageVerify:
		if err := r.loadCalibration(honest); err != nil {
			return false, err
		}
		vj := r.verifyJobs(honest, forged, envs)[index]
		if err := need(vj.proof); err != nil {
			return false, err
		}
		if vj.proof.info, err = loadProofInfo(vj.proof.dir); err != nil {
			return false, err
		}
		vj.proof.info.final = nil
		points, err := r.grid()
		if err != nil {
			return false, err
		}
		policies := policiesOf(points)
		vj.path = r.evidencePath(vj.proof.info.manifestSHA, vj.proof.model, vj.env, policiesJSON(policies))
		if _, err := os.Stat(vj.path); err == nil {
			return false, nil
		}
		_, err = r.gather(ctx, vj, policies, noProgress)
		return true, err
	default: // StageMerge
		plan, err := NewPlan(spec, opt)
		if err != nil {
			return false, err
		}
		for _, s := range plan.Stages {
			if m := s.Missing(); s.Name == StageMerge && len(m) == 0 {
				return false, nil
			} else if s.Name != StageMerge && len(m) > 0 {
				return false, fmt.Errorf("merge: %d %s jobs not done (first: %s): %w", len(m), s.Name, s.Jobs[m[0]].Name, ErrInputsMissing)
			}
		}
		_, err = Run(ctx, spec, opt)
		return true, err
	}
}
