package verifier

import (
	"fmt"
	"slices"
	"strconv"

	"pollab/data"
	"pollab/models"
	"pollab/proof"
)

// CheckCommitment is the registered name of the seed-commitment check.
const CheckCommitment = "commitment"

func init() {
	Register(Kind{Name: CheckCommitment, Order: 25,
		Usage:     "seed commitment: W0 is the model's init from the committed init seed, the batch table the committed schedule",
		NewConfig: func() Config { return &CommitmentConfig{} }})
}

// CommitmentFinding is what the commitment check collects: the recorded commitment, whether
// it is the hash of the recorded seeds and nonce, and where W0, its buffers and the batch
// table first depart from what the recorded seeds derive (models.Init of seeds.init rounded
// to the run's dtype; models.InitBuffers, which no seed changes; the first T rows of
// data.Schedule(N, B, E, seeds.data)).
type CommitmentFinding struct {
	Recorded       bool   `json:"recorded"` // the manifest holds a commitment
	Nonce          string `json:"nonce,omitempty"`
	HashOK         bool   `json:"hash_ok"`
	InitSeed       uint64 `json:"init_seed"`
	DataSeed       uint64 `json:"data_seed"`
	FirstBadParam  int    `json:"first_bad_param"`  // -1: W0 is the committed init
	FirstBadBuffer int    `json:"first_bad_buffer"` // -1: W0's buffers (running statistics) are the initial ones
	FirstBadStep   int    `json:"first_bad_step"`   // -1: every batch is the committed schedule's
}

// CommitmentCheck is the seed commitment of Choi, Shavit and Duvenaud (NeurIPS 2023): the
// seeds the proof commits to must derive its W0 exactly (prover: models.Init(m,
// seeds.init), rounded to the dtype; for a model with buffers, the step-0 running statistics
// models.InitBuffers) and its batch table exactly (the first T rows of
// data.Schedule(N, B, E, seeds.data)). With Nonce set (the verifier supplied it, or the task
// fixed it), the proof must record a commitment under that nonce; without, a proof without
// a commitment is held to the seeds its manifest records (a weaker claim: those could have
// been chosen after training, though W0 and the batches must still derive from them). A
// recorded commitment must always be the hash of the recorded seeds and nonce.
type CommitmentCheck struct {
	Nonce string `json:"nonce,omitempty"`
}

func (CommitmentCheck) Name() string { return CheckCommitment }

func (c CommitmentCheck) Validate() error {
	if c.Nonce == "" {
		return nil
	}
	return proof.CheckNonce(c.Nonce)
}

// Collect recomputes W0, its buffers and the schedule from the recorded seeds and compares.
func (CommitmentCheck) Collect(src *Source, ev *Evidence) error {
	m := src.Manifest
	f := CommitmentFinding{InitSeed: m.Seeds.Init, DataSeed: m.Seeds.Data, FirstBadParam: -1, FirstBadBuffer: -1, FirstBadStep: -1}
	if cm := m.Commitment; cm != nil {
		f.Recorded, f.Nonce = true, cm.Nonce
		f.HashOK = proof.CommitSeeds(m.Seeds, cm.Nonce) == cm.SHA256
	}
	dt, err := m.RunDType()
	if err != nil {
		return err
	}
	w0 := models.Init(src.Model, m.Seeds.Init)
	dt.Round(w0)
	b0 := models.InitBuffers(src.Model)
	dt.Round(b0)
	f.FirstBadParam, f.FirstBadBuffer = firstDifference(w0, src.W0), firstDifference(b0, src.B0)
	table := src.Proof.Table()
	sched := data.Schedule(m.Dataset.N, m.Batch, m.Epochs, m.Seeds.Data)
	for t := 0; t < m.Steps; t++ {
		if t >= sched.Steps || t >= table.Steps || table.Batch != sched.Batch || !slices.Equal(table.Row(t), sched.Row(t)) {
			f.FirstBadStep = t
			break
		}
	}
	return ev.SetFinding(CheckCommitment, f)
}

// firstDifference is the first index at which got differs from want (NaN never equal; the
// end of the shorter when the lengths differ), -1 when they are equal.
func firstDifference(want, got []float64) int {
	for i := range want {
		if i >= len(got) || !(want[i] == got[i]) {
			return i
		}
	}
	if len(got) != len(want) {
		return len(want)
	}
	return -1
}

func (c CommitmentCheck) Judge(j *Judging) *Rejection {
	ev := j.Ev
	var f CommitmentFinding
	if ok, err := ev.Finding(CheckCommitment, &f); !ok || err != nil {
		return Incomplete("the seed-commitment check was not run")
	}
	switch {
	case c.Nonce != "" && !f.Recorded:
		return Reject(CheckCommitment, -1, -1, "the proof records no seed commitment; the verifier's nonce is %q", c.Nonce)
	case c.Nonce != "" && f.Nonce != c.Nonce:
		return Reject(CheckCommitment, -1, -1, "the seeds are committed under nonce %q, the verifier's is %q", f.Nonce, c.Nonce)
	case f.Recorded && !f.HashOK:
		return Reject(CheckCommitment, -1, -1, "the recorded commitment is not the hash of the recorded seeds and nonce %q", f.Nonce)
	case f.FirstBadParam >= 0:
		return Reject(CheckCommitment, 0, 0, "W0 is not the model's init from the committed init seed %d (parameter %d differs)", f.InitSeed, f.FirstBadParam)
	case f.FirstBadBuffer >= 0:
		return Reject(CheckCommitment, 0, 0, "the step-0 running statistics are not the model's initial ones (buffer %d differs)", f.FirstBadBuffer)
	case f.FirstBadStep >= 0:
		return rejectAtStep(ev, CheckCommitment, f.FirstBadStep,
			"step %d's batch is not the committed schedule's (data seed %d)", f.FirstBadStep, f.DataSeed)
	}
	return nil
}

func (c CommitmentCheck) String() string {
	if c.Nonce == "" {
		return "commitment"
	}
	return "commitment(nonce=" + strconv.Quote(c.Nonce) + ")"
}

// CommitmentConfig configures the commitment check (flags --commitment, --commit-nonce;
// spec keys on, nonce): a nonce implies the check.
type CommitmentConfig struct {
	On    bool   `json:"on,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

func (c *CommitmentConfig) Flags() []Flag {
	return []Flag{
		{Name: "commitment", Usage: "check the seed commitment: W0 and the batch table derive from the committed seeds", Bool: true,
			Set: func(s string) (err error) { c.On, err = strconv.ParseBool(s); return err }},
		{Name: "commit-nonce", Usage: "require a seed commitment under this nonce (implies --commitment)",
			Set: func(s string) error { c.Nonce = s; return proof.CheckNonce(s) }},
	}
}

func (c *CommitmentConfig) Variants() ([]Variant, error) {
	if !c.On && c.Nonce == "" {
		return nil, nil
	}
	chk := CommitmentCheck{Nonce: c.Nonce}
	if err := chk.Validate(); err != nil {
		return nil, fmt.Errorf("commitment: %w", err)
	}
	return One(chk), nil
}
