package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"pollab/autodiff"
	"pollab/internal/specfile"
	"pollab/models"
	"pollab/proof"
)

// CheckTask is the registered name of the task check.
const CheckTask = "task"

func init() {
	Register(Kind{Name: CheckTask, Order: 35,
		Usage:     "task-fixed hyperparameters: the proof's claims (model, data, dtype, B, E, T, lr schedule, momentum, weight decay) and its checkpoints' lr are the task's",
		NewConfig: func() Config { return &TaskConfig{} }})
}

// Task is what the task, not the prover, fixes: the model, the dataset, the dtype, the batch
// size, the epochs and steps T, the SGD hyperparameters with the lr schedule (milestones in
// steps), and optionally the nonce the prover must commit its seeds under. A task file is
// TOML (.toml) or JSON (any other name) with these keys; unknown keys are errors.
type Task struct {
	Model       string  `toml:"model" json:"model"`
	Dataset     string  `toml:"dataset" json:"dataset"`
	DType       string  `toml:"dtype" json:"dtype"`
	Batch       int     `toml:"batch" json:"batch"`
	Epochs      int     `toml:"epochs" json:"epochs"`
	Steps       int     `toml:"steps" json:"steps"` // T
	LR          float64 `toml:"lr" json:"lr"`
	Momentum    float64 `toml:"momentum" json:"momentum"`
	WeightDecay float64 `toml:"weight_decay" json:"weight_decay"`
	Milestones  []int   `toml:"milestones" json:"milestones,omitempty"` // steps where lr *= gamma
	Gamma       float64 `toml:"gamma" json:"gamma,omitempty"`
	Nonce       string  `toml:"nonce" json:"nonce,omitempty"` // the seed-commitment nonce, if the task fixes one
}

// MaxTaskBytes bounds a task file.
const MaxTaskBytes = 1 << 20

// TaskOf is the task an honest run's manifest claims (what a task file for it would fix).
func TaskOf(m *proof.Manifest) Task {
	t := Task{Model: m.Model, Dataset: m.Dataset.Name, DType: m.DType, Batch: m.Batch, Epochs: m.Epochs, Steps: m.Steps,
		LR: m.Optimizer.LR, Momentum: m.Optimizer.Momentum, WeightDecay: m.Optimizer.WeightDecay,
		Milestones: slices.Clone(m.Optimizer.Milestones)}
	if len(t.Milestones) > 0 {
		t.Gamma = m.Optimizer.Gamma
	}
	if m.Commitment != nil {
		t.Nonce = m.Commitment.Nonce
	}
	return t
}

// LoadTask reads and validates a task file (TOML when its name ends in .toml, else JSON).
func LoadTask(path string) (*Task, error) {
	b, err := proof.ReadBounded(path, MaxTaskBytes)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", path, err)
	}
	t, err := ParseTask(b, strings.EqualFold(filepath.Ext(path), ".toml"))
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", path, err)
	}
	return t, nil
}

// ParseTask decodes a task (TOML or JSON), rejecting unknown keys, and validates it.
func ParseTask(b []byte, isTOML bool) (*Task, error) {
	var t Task
	if isTOML {
		if _, err := specfile.Decode(b, &t, nil); err != nil {
			return nil, err
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			return nil, fmt.Errorf("parse JSON: %w", err)
		}
		if dec.More() {
			return nil, errors.New("parse JSON: more than one value")
		}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Validate checks that the task fixes a runnable training: a model and dtype pollab knows,
// a dataset name, positive B, E, T and lr, and valid SGD hyperparameters.
func (t Task) Validate() error {
	if _, err := models.Parse(t.Model); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if _, err := autodiff.ParseDType(t.DType); err != nil {
		return fmt.Errorf("dtype: %w", err)
	}
	switch {
	case strings.TrimSpace(t.Dataset) == "":
		return errors.New("dataset: required")
	case t.Batch <= 0 || t.Epochs <= 0 || t.Steps <= 0:
		return fmt.Errorf("batch %d, epochs %d and steps %d must be positive", t.Batch, t.Epochs, t.Steps)
	case !(t.LR > 0):
		return fmt.Errorf("lr %v must be positive", t.LR)
	}
	if err := t.Hyper().Validate(); err != nil {
		return err
	}
	if t.Nonce != "" {
		return proof.CheckNonce(t.Nonce)
	}
	return nil
}

// Hyper is the task's SGD hyperparameters.
func (t Task) Hyper() proof.Hyper {
	return proof.Hyper{LR: t.LR, Momentum: t.Momentum, WeightDecay: t.WeightDecay, Milestones: t.Milestones, Gamma: t.Gamma}
}

// TaskFinding is what the task check collects: the proof's claims (its manifest as a Task)
// and every checkpoint's stored optimizer state.
type TaskFinding struct {
	Claims Task              `json:"claims"`
	States []CheckpointState `json:"states"`
}

// TaskCheck rejects a proof whose claims are not the task's (the model, dataset, dtype, B,
// E, T — "claimed T equals the task's T", which the infinitesimal attack's T' >> T breaks —,
// the lr schedule, momentum, weight decay, and the commitment nonce when the task fixes
// one), or one of whose checkpoints stores an lr or momentum state other than the task's
// schedule gives (the generalisation of enforce-manifest to a schedule the prover did not
// choose).
type TaskCheck struct {
	Task Task `json:"task"`
}

func (TaskCheck) Name() string { return CheckTask }

func (c TaskCheck) Validate() error { return c.Task.Validate() }

// Collect records the manifest's claims and the checkpoints' states.
func (TaskCheck) Collect(src *Source, ev *Evidence) error {
	return ev.SetFinding(CheckTask, TaskFinding{Claims: TaskOf(src.Manifest), States: src.States})
}

func (c TaskCheck) Judge(j *Judging) *Rejection {
	var f TaskFinding
	if ok, err := j.Ev.Finding(CheckTask, &f); !ok || err != nil {
		return Incomplete("the task check was not run")
	}
	if reason := c.Task.differs(f.Claims); reason != "" {
		return Reject(CheckTask, -1, -1, "%s", reason)
	}
	h := c.Task.Hyper()
	for i, st := range f.States {
		if reason := hparamsMismatch(st, h); reason != "" {
			return Reject(CheckTask, min(i, len(j.Ev.Intervals)-1), st.Step, "checkpoint %d (step %d) disagrees with the task: %s", i, st.Step, reason)
		}
	}
	return nil
}

// differs names the first claim that is not the task's ("" when none).
func (t Task) differs(claims Task) string {
	canon := func(spec string) string {
		if m, err := models.Parse(spec); err == nil {
			return m.Spec()
		}
		return spec
	}
	dtype := func(s string) string {
		if d, err := autodiff.ParseDType(s); err == nil {
			return d.String()
		}
		return s
	}
	gamma := func(x Task) float64 {
		if len(x.Milestones) == 0 {
			return 0 // without milestones gamma is never applied
		}
		return x.Gamma
	}
	type field struct {
		name       string
		claim, fix any
	}
	for _, f := range []field{
		{"model", canon(claims.Model), canon(t.Model)},
		{"dataset", claims.Dataset, t.Dataset},
		{"dtype", dtype(claims.DType), dtype(t.DType)},
		{"batch B", claims.Batch, t.Batch},
		{"epochs E", claims.Epochs, t.Epochs},
		{"steps T", claims.Steps, t.Steps},
		{"lr", claims.LR, t.LR},
		{"momentum", claims.Momentum, t.Momentum},
		{"weight decay", claims.WeightDecay, t.WeightDecay},
		{"lr milestones (steps)", fmt.Sprint(claims.Milestones), fmt.Sprint(t.Milestones)},
		{"gamma", gamma(claims), gamma(t)},
	} {
		if f.claim != f.fix {
			return fmt.Sprintf("claimed %s %v, the task fixes %v", f.name, f.claim, f.fix)
		}
	}
	if t.Nonce != "" && claims.Nonce != t.Nonce {
		return fmt.Sprintf("seeds committed under nonce %q, the task fixes %q", claims.Nonce, t.Nonce)
	}
	return ""
}

func (c TaskCheck) String() string { return "task" }

// TaskConfig configures the task check: flag --task FILE, spec key file, or the task inline
// (spec key task, a table of Task's keys).
type TaskConfig struct {
	File string `json:"file,omitempty"`
	Task *Task  `json:"task,omitempty"`
}

func (c *TaskConfig) Flags() []Flag {
	return []Flag{{Name: "task", Usage: "task file (TOML or JSON) fixing model, dataset, dtype, batch, epochs, steps and the lr schedule: reject other claims",
		Set: func(s string) error { c.File = s; _, err := LoadTask(s); return err }}}
}

func (c *TaskConfig) Variants() ([]Variant, error) {
	switch {
	case c.File != "" && c.Task != nil:
		return nil, errors.New("task: give a file or an inline task, not both")
	case c.File != "":
		t, err := LoadTask(c.File)
		if err != nil {
			return nil, err
		}
		return One(TaskCheck{Task: *t}), nil
	case c.Task != nil:
		if err := c.Task.Validate(); err != nil {
			return nil, fmt.Errorf("task: %w", err)
		}
		return One(TaskCheck{Task: *c.Task}), nil
	}
	return nil, nil
}
