package gauntlet

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/atomicfile"
	"pollab/internal/detmath"
	"pollab/models"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
)

// ErrStopped: Options.StopAfter ended a run early; running it again resumes it.
var ErrStopped = errors.New("gauntlet: stopped early (resumable)")

// PeerRow is one peer in one window of one (scenario, seed) run.
type PeerRow struct {
	Scenario string  `json:"scenario"`
	Seed     uint64  `json:"seed"`
	Window   int     `json:"window"`
	UID      int     `json:"uid"`
	Label    string  `json:"label"`
	Kind     Kind    `json:"kind"`
	Param    float64 `json:"param"`
	// Status: "" (not evaluated), "scored", "missing", "malformed".
	Status    string  `json:"status"`
	LossScore float64 `json:"loss_score"` // relative loss drop on the random slice (scored only)
	OwnImprov float64 `json:"own_improvement"`
	Indicator int     `json:"indicator"` // +1/−1 (scored only)
	Binary    float64 `json:"binary"`    // fingerprint b after this window
	Mu        float64 `json:"mu"`
	Sigma     float64 `json:"sigma"`
	Score     float64 `json:"score"`  // final score after this window
	Weight    float64 `json:"weight"` // share of this window's emission
	FLOPs     float64 `json:"flops"`  // compute the peer spent this window (ledger)
}

// GlobalRow is the global model after one window of one run.
type GlobalRow struct {
	Scenario       string  `json:"scenario"`
	Seed           uint64  `json:"seed"`
	Window         int     `json:"window"`
	TestLoss       float64 `json:"test_loss"` // after this window's aggregation
	Gathered       int     `json:"gathered"`
	Rated          int     `json:"rated"`
	PeerFLOPs      float64 `json:"peer_flops"`
	ValidatorFLOPs float64 `json:"validator_flops"`
}

// state is everything a run needs to continue after window Window-1; written atomically
// after every window (state.gob), so an interrupted run resumes bit-exactly.
type state struct {
	Window   int
	Params   []float64
	Ratings  []Rating
	Binary   []float64
	Score    []float64
	LastEval []int
	Prev     [][]float64 // previous window's well-formed submissions by uid
	Replay   [][]float64 // replayers' stored updates
	Peers    []PeerRow
	Global   []GlobalRow
}

// job is one (scenario, seed) run. Not safe for concurrent use.
type job struct {
	spec                  *Spec
	scenario              string
	seed                  uint64
	dir                   string
	model                 models.Model
	dt                    autodiff.DType
	trainSet              *data.Dataset
	hyper                 proof.Hyper
	peers                 []Peer
	rating                PlackettLuce
	testIdx               []int32
	peerStep              *prover.Stepper // peers' training (peerLedger)
	valStep               *prover.Stepper // the validator's evaluations (valLedger)
	testStep              *prover.Stepper // the global test loss (not counted)
	peerLedger, valLedger *autodiff.Ledger
	logits                []float64
}

func newJob(s *Spec, scenario string, seed uint64, dir string) (*job, error) {
	dt, err := autodiff.ParseDType(s.DType)
	if err != nil {
		return nil, err
	}
	m, train, test, err := prover.Setup(s.Model, s.Dataset)
	if err != nil {
		return nil, err
	}
	j := &job{
		spec: s, scenario: scenario, seed: seed, dir: dir, model: m, dt: dt, trainSet: train,
		hyper: proof.Hyper{LR: s.Peer.LR, Gamma: 1}, peers: s.Population(scenario), rating: TemplarModel(),
		peerLedger: autodiff.NewLedger(), valLedger: autodiff.NewLedger(),
	}
	j.peerStep = prover.NewStepper(m, dt, train, nil, j.peerLedger)
	j.valStep = prover.NewStepper(m, dt, train, nil, j.valLedger)
	j.testStep = prover.NewStepper(m, dt, test, nil, nil)
	for i := range min(s.Validator.TestPoints, test.Len()) {
		j.testIdx = append(j.testIdx, int32(i))
	}
	return j, nil
}

func (j *job) statePath() string { return filepath.Join(j.dir, "state.gob") }

func (j *job) initial() *state {
	n := len(j.peers)
	st := &state{
		Params:   models.Init(j.model, data.SubSeed(j.seed, "init", 0)),
		Ratings:  make([]Rating, n),
		Binary:   make([]float64, n),
		Score:    make([]float64, n),
		LastEval: make([]int, n),
		Prev:     make([][]float64, n),
		Replay:   make([][]float64, n),
	}
	j.dt.Round(st.Params)
	for i := range n {
		st.Ratings[i] = j.rating.NewRating()
		st.LastEval[i] = -1
	}
	return st
}

func (j *job) load() (*state, error) {
	raw, err := os.ReadFile(j.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return j.initial(), nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&st); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to start the run over)", j.statePath(), err)
	}
	if len(st.Params) != j.model.NumParams() || len(st.Ratings) != len(j.peers) || st.Window > j.spec.Windows {
		return nil, fmt.Errorf("%s: state of another spec (delete it to start the run over)", j.statePath())
	}
	return &st, nil
}

func (j *job) save(st *state) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		return err
	}
	return atomicfile.WriteFile(j.statePath(), buf.Bytes())
}

// run continues the job to the last window, or stops after stopAfter new windows (> 0).
func (j *job) run(ctx context.Context, stopAfter int, progress func()) (*state, error) {
	st, err := j.load()
	if err != nil {
		return nil, err
	}
	done := 0
	for st.Window < j.spec.Windows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if stopAfter > 0 && done == stopAfter {
			return nil, ErrStopped
		}
		if j.scenario == DataParallel {
			err = j.dpWindow(st)
		} else {
			err = j.window(st)
		}
		if err != nil {
			return nil, fmt.Errorf("%s seed %d window %d: %w", j.scenario, j.seed, st.Window, err)
		}
		st.Window++
		if err := j.save(st); err != nil {
			return nil, err
		}
		done++
		if progress != nil {
			progress()
		}
	}
	return st, nil
}

func ledgerFLOPs(l *autodiff.Ledger) float64 { c := l.Cost(); return c.FLOPs + c.Other }

// window simulates one Gauntlet window: submissions, evaluation, ratings, penalties,
// aggregation, weights.
func (j *job) window(st *state) error {
	w, n, np := st.Window, len(j.peers), len(st.Params)
	subs := make([][]float64, n)
	rows := make([]PeerRow, n)
	var peerTotal float64
	for i, p := range j.peers {
		before := ledgerFLOPs(j.peerLedger)
		d, err := j.submit(p, w, st.Params, st.Prev, st.Replay)
		if err != nil {
			return fmt.Errorf("peer %d (%s): %w", p.UID, p.Label(), err)
		}
		subs[i] = d
		rows[i] = PeerRow{Scenario: j.scenario, Seed: j.seed, Window: w, UID: p.UID, Label: p.Label(), Kind: p.Kind, Param: p.Param,
			FLOPs: ledgerFLOPs(j.peerLedger) - before}
		peerTotal += rows[i].FLOPs
	}
	var good []int
	var norms []float64
	for i, d := range subs {
		if d != nil && wellFormed(d, np) {
			good = append(good, i)
			norms = append(norms, norm(d))
		}
	}
	med := stats.Median(norms) // NaN without well-formed updates: then unused

	// Evaluation of a few peers from one ordinal bin.
	valBefore := ledgerFLOPs(j.valLedger)
	v := j.spec.Validator
	var rated []int
	var lossScores []float64
	for _, i := range j.choose(st) {
		st.LastEval[i] = w
		d := subs[i]
		switch {
		case d == nil:
			rows[i].Status = "missing"
			st.Score[i] = penalise(st.Score[i], v.Penalty)
			st.Binary[i] = penalise(st.Binary[i], v.Penalty)
			continue
		case !wellFormed(d, np):
			rows[i].Status = "malformed"
			st.Score[i] = penalise(st.Score[i], 0)
			st.Binary[i] = penalise(st.Binary[i], 0)
			continue
		}
		if v.Clip == "median" {
			d = clipTo(d, med)
		}
		ls, own, err := j.evaluate(st.Params, d, i, w)
		if err != nil {
			// The update makes the model unsafe to evaluate (overflow): as malformed.
			rows[i].Status = "malformed"
			st.Score[i] = penalise(st.Score[i], 0)
			st.Binary[i] = penalise(st.Binary[i], 0)
			continue
		}
		ind := -1
		if own > ls {
			ind = 1
		}
		st.Binary[i] = float64(v.EMA*st.Binary[i]) + float64((1-v.EMA)*float64(ind))
		rows[i].Status, rows[i].LossScore, rows[i].OwnImprov, rows[i].Indicator = "scored", ls, own, ind
		rated = append(rated, i)
		lossScores = append(lossScores, ls)
	}
	if len(rated) >= 2 {
		in := make([]Rating, len(rated))
		for k, i := range rated {
			in[k] = st.Ratings[i]
		}
		out, err := j.rating.Rate(in, lossScores)
		if err != nil {
			return err
		}
		for k, i := range rated {
			st.Ratings[i] = out[k]
			// Every simulated peer trains from (or claims) the current global model: sync 1.
			st.Score[i] = math.Max(0, out[k].Ordinal(j.rating.Z)) * math.Max(0, st.Binary[i]) * syncScore(0)
		}
	}
	valFLOPs := ledgerFLOPs(j.valLedger) - valBefore

	// Aggregation of every well-formed submission.
	if len(good) > 0 {
		agg := make([]float64, np)
		for k, i := range good {
			d := subs[i]
			scale := 1.0
			switch v.Aggregation {
			case "median":
				if norms[k] > med {
					scale = med / norms[k]
				}
			case "normalise":
				scale = 0
				if norms[k] > 0 {
					scale = med / norms[k]
				}
			}
			for t := range agg {
				agg[t] += float64(scale * d[t])
			}
		}
		for t := range agg {
			st.Params[t] -= v.OuterLR * agg[t] / float64(len(good))
		}
		j.dt.Round(st.Params)
	}

	// Weights ∝ score^power over positive scores; one unit of emission per window.
	var total float64
	for i := range n {
		if st.Score[i] > 0 {
			total += detmath.Pow(st.Score[i], v.Power)
		}
	}
	for i := range n {
		if total > 0 && st.Score[i] > 0 {
			rows[i].Weight = detmath.Pow(st.Score[i], v.Power) / total
		}
		rows[i].Binary, rows[i].Mu, rows[i].Sigma, rows[i].Score = st.Binary[i], st.Ratings[i].Mu, st.Ratings[i].Sigma, st.Score[i]
	}
	loss, err := j.testLoss(st.Params)
	if err != nil {
		return err
	}
	for i := range n {
		st.Prev[i] = nil
	}
	for _, i := range good {
		st.Prev[i] = subs[i]
	}
	st.Peers = append(st.Peers, rows...)
	st.Global = append(st.Global, GlobalRow{Scenario: j.scenario, Seed: j.seed, Window: w, TestLoss: loss, Gathered: len(good),
		Rated: len(rated), PeerFLOPs: peerTotal, ValidatorFLOPs: valFLOPs})
	return nil
}

// dpWindow: the honest peers' H batches of this window, but as plain data-parallel SGD: at
// each of the H steps one update on the union of the peers' h-th batches (the mean of
// their gradients), so the same data and the same gradient FLOPs as the honest scenario.
func (j *job) dpWindow(st *state) error {
	w, b := st.Window, j.spec.Peer.Batch
	hb := j.spec.Peer.InnerSteps * b
	idx := make([][]int32, len(j.peers))
	for i, p := range j.peers {
		idx[i] = assignment(j.seed, p.UID, w, j.trainSet.Len(), hb)
	}
	before := ledgerFLOPs(j.peerLedger)
	ps := &prover.State{LR: j.spec.Peer.LR, Params: st.Params}
	for h := range j.spec.Peer.InnerSteps {
		var batch []int32
		for i := range j.peers {
			batch = append(batch, idx[i][h*b:(h+1)*b]...)
		}
		if err := j.peerStep.Step(ps, j.hyper, batch, 0, false); err != nil {
			return err
		}
	}
	loss, err := j.testLoss(st.Params)
	if err != nil {
		return err
	}
	st.Global = append(st.Global, GlobalRow{Scenario: j.scenario, Seed: j.seed, Window: w, TestLoss: loss, Gathered: len(j.peers),
		PeerFLOPs: ledgerFLOPs(j.peerLedger) - before})
	return nil
}

// choose picks the window's peers to evaluate: the peers sorted by ordinal (best first, then
// uid) are cut into bins of BinSize; one bin is drawn uniformly; within it UIDsPerWindow
// peers are drawn without replacement with probability ∝ windows waited since their last
// evaluation (never evaluated: window+1). Returned in uid order.
func (j *job) choose(st *state) []int {
	n, w, v := len(j.peers), st.Window, j.spec.Validator
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return st.Ratings[order[a]].Ordinal(j.rating.Z) > st.Ratings[order[b]].Ordinal(j.rating.Z)
	})
	rng := data.NewRNG(data.SubSeed(j.seed, "choose", w))
	nb := (n + v.BinSize - 1) / v.BinSize
	b := rng.IntN(nb)
	bin := slices.Clone(order[b*v.BinSize : min((b+1)*v.BinSize, n)])
	var out []int
	for len(out) < v.UIDsPerWindow && len(bin) > 0 {
		var total float64
		for _, i := range bin {
			total += float64(w - st.LastEval[i])
		}
		x := rng.Float64() * total
		k := len(bin) - 1
		for t, i := range bin {
			x -= float64(w - st.LastEval[i])
			if x < 0 {
				k = t
				break
			}
		}
		out = append(out, bin[k])
		bin = slices.Delete(bin, k, k+1)
	}
	slices.Sort(out)
	return out
}

// evaluate returns the LossScore (L(θ) − L(θ − β·d))/L(θ) on a random slice of the training
// set and the same relative improvement on a slice of the peer's assigned data.
func (j *job) evaluate(theta, d []float64, i, w int) (lossScore, own float64, err error) {
	v := j.spec.Validator
	moved := make([]float64, len(theta))
	for t := range moved {
		moved[t] = theta[t] - float64(v.Beta*d[t])
	}
	j.dt.Round(moved)
	uid := strconv.Itoa(j.peers[i].UID)
	hb := j.spec.Peer.InnerSteps * j.spec.Peer.Batch
	assigned := assignment(j.seed, j.peers[i].UID, w, j.trainSet.Len(), hb)
	r := data.NewRNG(data.SubSeed(j.seed, "own-slice:"+uid, w))
	ownIdx := make([]int32, v.EvalPoints)
	for k := range ownIdx {
		ownIdx[k] = assigned[r.IntN(len(assigned))]
	}
	randIdx := drawIndices(data.SubSeed(j.seed, "rand-slice:"+uid, w), j.trainSet.Len(), v.EvalPoints)
	rel := func(idx []int32) (float64, error) {
		before, err := j.loss(j.valStep, theta, idx)
		if err != nil {
			return 0, err
		}
		after, err := j.loss(j.valStep, moved, idx)
		if err != nil {
			return 0, err
		}
		return (before - after) / before, nil
	}
	if lossScore, err = rel(randIdx); err != nil {
		return 0, 0, err
	}
	if own, err = rel(ownIdx); err != nil {
		return 0, 0, err
	}
	return lossScore, own, nil
}

// loss is the mean cross-entropy of params on the points idx of s's dataset (forward only).
func (j *job) loss(s *prover.Stepper, params []float64, idx []int32) (float64, error) {
	x, labels, err := s.Gather(idx, 0, false)
	if err != nil {
		return 0, err
	}
	c := j.model.Classes()
	if cap(j.logits) < len(idx)*c {
		j.logits = make([]float64, len(idx)*c)
	}
	out := j.logits[:len(idx)*c]
	if err := s.Engine().Logits(params, x, out); err != nil {
		return 0, err
	}
	var sum float64
	for k, y := range labels {
		row := out[k*c : (k+1)*c]
		mx := slices.Max(row)
		var z float64
		for _, l := range row {
			z += detmath.Exp(l - mx)
		}
		sum += mx + detmath.Log(z) - row[y]
	}
	return sum / float64(len(labels)), nil
}

func (j *job) testLoss(params []float64) (float64, error) {
	return j.loss(j.testStep, params, j.testIdx)
}

// penalise multiplies a positive value by f and zeroes what falls below 1e-4 (Templar's
// rule); zero and negative values are left alone.
func penalise(x, f float64) float64 {
	if x <= 0 {
		return x
	}
	x *= f
	if x < 1e-4 {
		return 0
	}
	return x
}

// syncScore is Templar's max(0, (1 − min(x, 5)/5)^2.5) for a peer x steps behind.
func syncScore(stepsBehind float64) float64 {
	return math.Max(0, detmath.Pow(1-math.Min(stepsBehind, 5)/5, 2.5))
}

// clipTo returns d scaled down to norm c when its norm exceeds c (d itself otherwise).
func clipTo(d []float64, c float64) []float64 {
	nd := norm(d)
	if nd <= c || nd == 0 {
		return d
	}
	out := make([]float64, len(d))
	for t := range d {
		out[t] = d[t] * c / nd
	}
	return out
}
