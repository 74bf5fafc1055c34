package experiments

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"pollab/internal/atomicfile"
	"pollab/internal/specfile"
	"pollab/proof"
	"pollab/stats"
	"pollab/verifier"
)

// policyPoint is one point of the verifier grid, with the CSV labels it is reported under
// beside its checks' own (verifier.Labeller, per model's d_ref).
type policyPoint struct {
	policy verifier.Policy
	labels []verifier.Label
}

// labels are the CSV labels of a point decided for a proof whose calibration is dref: the
// registered checks' columns (from the point's Labeller checks; a check the point lacks
// leaves its columns at their values for "off"), then the point's own labels.
func (pt *policyPoint) rowLabels(dref *stats.Distances) []verifier.Label {
	var out []verifier.Label
	for _, c := range pt.policy.Checks {
		if l, ok := c.(verifier.Labeller); ok {
			out = append(out, l.Labels(dref)...)
		}
	}
	return append(out, pt.labels...)
}

// checkConfigs is one configuration of every registered check (verifier.Kinds), filled
// from the spec: a check's [verify.check.NAME] section, over the flat [verify] keys of the
// lab's own checks (flatCheckKeys).
func (v *VerifySpec) checkConfigs() ([]verifier.Config, error) {
	return v.configsOver("verify.check", v.Check)
}

// configsOver is one configuration of every registered check, in verifier.Kinds order: the
// flat [verify] keys overridden by sections[NAME] (named where in errors), decoded strictly.
func (v *VerifySpec) configsOver(where string, sections map[string]map[string]any) ([]verifier.Config, error) {
	var out []verifier.Config
	for _, k := range verifier.Kinds() {
		sec := map[string]any{}
		maps.Copy(sec, v.flatCheckKeys()[k.Name])
		maps.Copy(sec, sections[k.Name])
		cfg := k.NewConfig()
		if err := decodeStrict(sec, cfg); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", where, k.Name, err)
		}
		out = append(out, cfg)
	}
	for name := range sections {
		if _, err := verifier.LookupKind(name); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	return out, nil
}

// checkVariants is every configured check's variants, in check order (a check left off
// has none).
func (v *VerifySpec) checkVariants() ([][]verifier.Variant, error) {
	cfgs, err := v.checkConfigs()
	if err != nil {
		return nil, err
	}
	var out [][]verifier.Variant
	for _, cfg := range cfgs {
		vs, err := cfg.Variants()
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if len(vs) > 0 {
			out = append(out, vs)
		}
	}
	return out, nil
}

// flatCheckKeys are the [verify] keys that configure the lab's own checks, by check and
// configuration key: the spec format from before checks were registered, kept so that
// existing specs read (and hash) as they did.
func (v *VerifySpec) flatCheckKeys() map[string]map[string]any {
	return map[string]map[string]any{
		verifier.CheckInit:       {"alpha": v.InitAlpha},
		verifier.CheckMembership: {"on": v.Membership},
		verifier.CheckHparams:    {"mode": v.Hparams},
		verifier.CheckReplay:     {"metrics": v.Metrics, "absolute_delta": v.AbsoluteDelta, "normalized_delta": v.NormalizedDelta},
	}
}

// decodeStrict decodes a spec section into a configuration through JSON, rejecting unknown
// keys.
func decodeStrict(sec map[string]any, cfg any) error {
	b, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(cfg)
}

// grid expands the spec's verifier grid into policy points: every interval selection (Q x
// audit; audits only apply under top-Q, Q = 0 already checks every interval) with every
// combination of the registered checks' variants (verifier.Config.Variants, in check
// order). A point is labelled by its checks (verifier.Labeller: the replay check's metric
// and delta) and by its variants' labels (extra columns).
func (r *runner) grid() ([]policyPoint, error) {
	v := r.spec.Verify
	variants, err := v.checkVariants()
	if err != nil {
		return nil, err
	}
	combos := [][]verifier.Variant{nil}
	for _, vs := range variants {
		var next [][]verifier.Variant
		for _, c := range combos {
			for _, x := range vs {
				next = append(next, append(slices.Clone(c), x))
			}
		}
		combos = next
	}
	var pts []policyPoint
	for _, q := range v.Q {
		for _, audit := range v.Audit {
			if q == 0 && audit > 0 {
				continue
			}
			for _, combo := range combos {
				var pt policyPoint
				pt.policy.Select = verifier.Selection{Q: q, Audit: audit, AuditSeed: v.AuditSeed}
				for _, x := range combo {
					pt.policy.Checks = append(pt.policy.Checks, x.Check)
					pt.labels = append(pt.labels, x.Labels...)
					if rc, ok := x.Check.(verifier.ReplayCheck); ok {
						pt.policy.Select.Metrics = rc.Metrics
					}
				}
				pts = append(pts, pt)
			}
		}
	}
	defences, err := r.defencePoints()
	return append(pts, defences...), err
}

func metricOf(d stats.Distances, m string) float64 {
	v, err := d.Get(m)
	if err != nil {
		return math.NaN()
	}
	return v
}

// verifyJob is one (proof, env) verification.
type verifyJob struct {
	proof *proofJob
	env   verifier.Env
	path  string // evidence cache file
}

// verifyAll gathers Evidence for every proof in every env (from the cache when present) and
// decides every grid point, returning the CSV rows.
func (r *runner) verifyAll(ctx context.Context, jobs []*proofJob) ([]Row, error) {
	points, err := r.grid()
	if err != nil {
		return nil, err
	}
	policies := policiesOf(points)
	envs, err := r.envs()
	if err != nil {
		return nil, err
	}
	vjobs := r.verifyJobs(jobs, nil, envs)
	pj := policiesJSON(policies)
	for _, vj := range vjobs {
		vj.path = r.evidencePath(vj.proof.info.manifestSHA, vj.proof.model, vj.env, pj)
	}
	// Each job's rows are decided as soon as its Evidence exists, and the Evidence (every
	// interval's distances) is dropped: a long run holds rows, not every proof's evidence.
	rowsOf := make([][]Row, len(vjobs))
	weight := func(i int) float64 { return float64(vjobs[i].proof.info.steps) }
	// Fix the estimate now that real proof lengths are known.
	r.mu.Lock()
	uncached := 0.0
	for i, vj := range vjobs {
		if _, err := os.Stat(vj.path); err != nil {
			r.total += weight(i) - float64(float64(vj.proof.steps)*r.verifyFrac())
			uncached += weight(i)
		} else {
			r.total -= float64(float64(vj.proof.steps) * r.verifyFrac())
		}
	}
	r.mu.Unlock()
	r.startPhase("verification", uncached)
	err = runPool(ctx, r, "verification", len(vjobs), func(ctx context.Context, i int, frac func(float64)) error {
		ev, err := r.gather(ctx, vjobs[i], policies, frac)
		if err != nil {
			return err
		}
		rowsOf[i] = r.rows(vjobs[i], ev, points)
		return nil
	}, weight)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, rs := range rowsOf {
		rows = append(rows, rs...)
	}
	return rows, nil
}

func policiesOf(points []policyPoint) []verifier.Policy {
	policies := make([]verifier.Policy, len(points))
	for i, p := range points {
		policies[i] = p.policy
	}
	return policies
}

// policiesJSON encodes the policies as the evidence key hashes them (the same bytes as
// encoding the slice inside the key).
func policiesJSON(policies []verifier.Policy) json.RawMessage {
	b, err := json.Marshal(policies)
	if err != nil {
		panic(fmt.Sprintf("experiments: encode policies: %v", err)) // plain data: a programming error
	}
	return b
}

// envs parses the spec's verifier envs.
func (r *runner) envs() ([]verifier.Env, error) {
	var envs []verifier.Env
	for _, s := range r.spec.Verify.Envs {
		e, err := verifier.ParseEnv(s)
		if err != nil {
			return nil, fmt.Errorf("spec env: %w", err)
		}
		envs = append(envs, e)
	}
	return envs, nil
}

// evidencePath names the evidence file of the proof with manifest hash sha (of model) in env e:
// the hash of (engine build, manifest, policies, d_ref, nonce), so a changed engine, grid or
// calibration never reads old evidence.
// policies is the grid's policies as JSON (policiesJSON: encoded once, not per proof).
func (r *runner) evidencePath(sha, model string, e verifier.Env, policies json.RawMessage) string {
	key := specfile.Hash(struct {
		Format   string
		Build    string
		Manifest string
		Policies json.RawMessage
		DRef     stats.Distances
		Nonce    uint64
	}{"evidence/2", engineBuild, sha, policies, r.dref[model], auditNonce})[:16]
	return filepath.Join(r.cache, "evidence", fmt.Sprintf("%s-%s-%s.json", sha[:16], sanitize(e.Name), key))
}

func (r *runner) verifyFrac() float64 {
	if slices.Contains(r.spec.Verify.Q, 0) {
		return 1
	}
	return 0.5
}

func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			out[i] = '_'
		}
	}
	return string(out)
}

// gather loads the cached Evidence of vj or runs the verifier for it (one re-execution
// worker: the pool already spreads (proof, env) pairs over the cores).
func (r *runner) gather(ctx context.Context, vj *verifyJob, policies []verifier.Policy, frac func(float64)) (*verifier.Evidence, error) {
	var ev verifier.Evidence
	if err := readJSON(vj.path, &ev); err == nil && ev.Manifest == vj.proof.info.manifestSHA {
		r.mu.Lock()
		r.ledger.EvidenceCached++
		r.mu.Unlock()
		return &ev, nil
	}
	p, err := proof.Open(vj.proof.dir)
	if err != nil {
		return nil, err
	}
	dref := r.dref[vj.proof.model]
	nonce := auditNonce
	got, err := verifier.Gather(ctx, p, vj.env, policies, verifier.Options{
		Workers: 1, Cache: r.reexec, DRef: &dref, AuditNonce: &nonce,
		Progress: func(done, total int, note string) {
			if note == "re-executing" {
				frac(float64(done) / float64(max(total, 1)))
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("verify %s in env %s: %w", vj.proof.dir, vj.env.Name, err)
	}
	if err := atomicfile.WriteJSON(vj.path, got); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.ledger.EvidenceBuilt++
	r.ledger.ReexecutedSteps += got.ReexecutedSteps
	r.ledger.VerifierCost = r.ledger.VerifierCost.Add(got.Ledger)
	r.done += float64(vj.proof.info.steps)
	r.mu.Unlock()
	return got, nil
}

// rows decides every grid point on one Evidence.
func (r *runner) rows(vj *verifyJob, ev *verifier.Evidence, points []policyPoint) []Row {
	j := vj.proof
	info := j.info
	dref := r.dref[j.model]
	target := j
	if j.target != nil {
		target = j.target
	}
	honestFLOPs := target.info.cost.FLOPs + target.info.cost.Other
	cost := info.cost.FLOPs + info.cost.Other
	base := Row{
		Experiment: r.spec.Name, ProofID: info.manifestSHA[:16], Kind: j.kind, Seed: j.seed, Model: j.model,
		Dataset: info.dataset, DType: info.dtype, Params: info.params, K: info.k, Steps: info.steps,
		Checkpoints: info.checkpoints, TargetSteps: target.info.steps, TargetK: target.info.k,
		AttackDelta: j.attackDelta, Env: vj.env.Name,
		CostFLOPs: cost, CostWallS: info.cost.Wall.Seconds(), HonestFLOPs: honestFLOPs,
	}
	if j.attack != nil {
		base.AttackQ = j.attack.Config.Plan().Q
	}
	if honestFLOPs > 0 {
		base.CostFraction = cost / honestFLOPs
	}
	if info.params > 0 {
		base.FLOPsPerParam = cost / float64(info.params)
	}
	if target.info.flopsStep > 0 {
		base.ProofGradEquiv = cost / target.info.flopsStep
	}
	var out []Row
	for _, pt := range points {
		row := base
		row.Q, row.Audit = pt.policy.Select.Q, pt.policy.Select.Audit
		row.setLabels(pt.rowLabels(&dref))
		v := pt.policy.Decide(ev)
		row.Accepted, row.FailedCheck, row.FailedInterval = v.Accepted, v.Check, v.Interval
		needed := pt.policy.Needed(ev)
		row.Checked = len(needed)
		mode := pt.policy.HparamsMode()
		for i := range row.MaxRepro {
			row.MaxRepro[i], row.MaxReproNorm[i] = math.NaN(), math.NaN()
		}
		bufL2 := math.NaN() // re-executed running statistics (models with buffers only)
		for _, i := range needed {
			iv := ev.Intervals[i]
			row.ReexecSteps += iv.Steps()
			rep := iv.Repro[mode]
			if rep == nil {
				continue
			}
			if rep.Buffers != nil && !(rep.Buffers.L2 <= bufL2) {
				bufL2 = rep.Buffers.L2
			}
			for mi, m := range Metrics {
				raw := metricOf(rep.Raw, m)
				if math.IsNaN(row.MaxRepro[mi]) || raw > row.MaxRepro[mi] {
					row.MaxRepro[mi] = raw
				}
				if ref := metricOf(dref, m); ref > 0 {
					row.MaxReproNorm[mi] = row.MaxRepro[mi] / ref
				}
			}
		}
		if !math.IsNaN(bufL2) {
			// An extra column (written only when some row has it: results of models without
			// buffers keep their bytes), reported beside the decision, never part of it.
			row.setLabels([]verifier.Label{{Column: BuffersColumn, Value: ff(bufL2)}})
		}
		out = append(out, row)
	}
	return out
}

// BuffersColumn is results.csv's column of the largest l2 distance between re-executed and
// claimed running statistics (BatchNorm buffers) over the intervals a point checked; only
// rows of models with buffers have it.
const BuffersColumn = "max_repro_buffers_l2"

// fileSHA256 is the hex SHA-256 of a file's bytes.
func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
