package verifier

import (
	"encoding/json"
	"time"

	"pollab/autodiff"
	"pollab/stats"
)

// Hyperparameter modes of a Policy.
const (
	// HparamsTrustCheckpoint re-executes with the lr and momentum stored in each start
	// checkpoint (the reference verifier; what Fang et al.'s infinitesimal attack exploits).
	HparamsTrustCheckpoint = "trust-checkpoint"
	// HparamsEnforceManifest recomputes the lr of every step from the manifest's schedule
	// and rejects checkpoints whose stored lr or momentum state disagrees with it.
	HparamsEnforceManifest = "enforce-manifest"
)

// Evidence is everything the verifier found out about one proof in one env: the findings the
// policies' checks collected (a check that no policy holds leaves its finding unchecked), the update magnitude of every interval, and the reproduction distances
// of the intervals it re-executed. A Policy turns it into a Verdict without re-executing.
type Evidence struct {
	Manifest    string `json:"manifest_sha256"` // hex SHA-256 of manifest.json
	Env         string `json:"env"`             // the env re-executed in (see Gather: may add augment)
	Model       string `json:"model"`
	Dataset     string `json:"dataset"`
	DatasetSize int    `json:"dataset_size"` // N
	Batch       int    `json:"batch"`        // B
	Steps       int    `json:"steps"`        // T
	Epochs      int    `json:"epochs"`       // E, as the manifest declares it
	K           int    `json:"k"`
	// StepsPerEpoch is S = N/B (a real number: with the global drop-last a batch can
	// straddle two epochs). Interval i belongs to epoch floor(start_i·B / N), the epoch of
	// the first point of its first batch (stats.EpochRuleStart; see stats.IntervalEpochs).
	StepsPerEpoch float64 `json:"steps_per_epoch"`

	Init       InitFinding       `json:"init"`
	Data       DataFinding       `json:"data"`
	Membership MembershipFinding `json:"membership"`
	Hparams    HparamsFinding    `json:"hparams"`
	// Findings holds the findings of checks without a field above, by check name
	// (Evidence.SetFinding, Evidence.Finding).
	Findings map[string]json.RawMessage `json:"findings,omitempty"`

	Intervals []Interval `json:"intervals"`

	// AuditNonce is the verifier-secret value, drawn from crypto/rand after the proof was
	// read, from which a Policy with AuditSeed 0 derives its audit seed (see AuditSeedFor).
	AuditNonce uint64 `json:"audit_nonce"`
	// DRef is the calibrated honest distance used for normalised thresholds (nil if none).
	DRef *stats.Distances `json:"dref,omitempty"`

	// Ledger is the verifier's own cost: re-executed steps' passes and FLOPs, distances.
	Ledger autodiff.Cost `json:"ledger"`
	// ReexecutedSteps counts SGD steps this verification actually ran (cache hits excluded);
	// ReexecutedFraction is it over Steps.
	ReexecutedSteps    int     `json:"reexecuted_steps"`
	ReexecutedFraction float64 `json:"reexecuted_fraction"`
	// NeededSteps counts the steps of every re-executed interval, cached or not; its fraction
	// of Steps is what verification costs when nothing is cached.
	NeededSteps    int     `json:"needed_steps"`
	NeededFraction float64 `json:"needed_fraction"`
	CacheHits      int     `json:"cache_hits"`
	// Wall is the elapsed time of Gather, reading checkpoints included.
	Wall time.Duration `json:"wall_ns"`
}

// InitFinding is the KS test of every tested tensor of W0 against the model's declared law.
type InitFinding struct {
	Checked bool    `json:"checked"`
	Tensors int     `json:"tensors"` // how many tensors were tested
	MinP    float64 `json:"min_p"`   // smallest p-value (1 when nothing is tested)
	Tensor  string  `json:"tensor"`  // the tensor with the smallest p-value
	D       float64 `json:"d"`       // its KS statistic
	// Tested is every tested tensor's result, in the model's order (what Holm's correction
	// needs).
	Tested []TensorKS `json:"tested,omitempty"`
}

// DataFinding is the batch-hash check: every step's batch hash recomputed from the indexed
// points of the declared dataset and of the payload.
type DataFinding struct {
	Checked       bool   `json:"checked"`
	FingerprintOK bool   `json:"fingerprint_ok"` // the loaded dataset is the one the manifest declares
	FirstBadStep  int    `json:"first_bad_step"` // -1 when every batch hash matches
	Reason        string `json:"reason,omitempty"`
}

// OK reports whether the data check passed.
func (d DataFinding) OK() bool { return d.Checked && d.FingerprintOK && d.FirstBadStep < 0 }

// MembershipFinding counts the payload points the batch table references and those of them
// whose point hash is not in the declared public dataset.
type MembershipFinding struct {
	Checked          bool `json:"checked"`
	PayloadPoints    int  `json:"payload_points"`     // distinct payload points referenced
	Foreign          int  `json:"foreign"`            // of those, not in the declared dataset
	FirstForeignStep int  `json:"first_foreign_step"` // -1 when none
}

// HparamsFinding compares every checkpoint's stored optimizer state with the manifest.
type HparamsFinding struct {
	Checked       bool    `json:"checked"`
	FirstMismatch int     `json:"first_mismatch"` // checkpoint index, -1 when all agree
	Step          int     `json:"step"`
	StoredLR      float64 `json:"stored_lr"`
	ManifestLR    float64 `json:"manifest_lr"`
	Reason        string  `json:"reason,omitempty"`
}

// Interval is the stretch of training between checkpoints Index and Index+1.
type Interval struct {
	Index int `json:"index"`
	Start int `json:"start"` // step of the start checkpoint
	End   int `json:"end"`   // step of the end checkpoint
	Epoch int `json:"epoch"`
	// Update is d(W_start, W_end) read from the proof's own checkpoints: what top-Q ranks.
	Update stats.Distances `json:"update"`
	// Repro holds the re-execution result per hyperparameter mode (nil if not re-executed).
	Repro map[string]*Repro `json:"repro,omitempty"`
}

// Steps is the number of SGD steps in the interval.
func (iv Interval) Steps() int { return iv.End - iv.Start }

// Repro is one re-execution of an interval: the distance from the re-executed weights to the
// proof's end checkpoint, raw and (with a calibration) as fractions of d_ref.
type Repro struct {
	Raw        stats.Distances  `json:"raw"`
	Normalized *stats.Distances `json:"normalized,omitempty"`
	// Buffers is the distance from the re-executed buffers (BatchNorm running statistics) to
	// the end checkpoint's, for a model with buffers (nil otherwise). Reported, never decided
	// on: Raw and the policy are over trainable parameters only, as Jia et al.'s.
	Buffers *stats.Distances `json:"buffers,omitempty"`
	// Failure says why the re-execution could not run to the end (its distances are then
	// +Inf): a claimed state that overflows, a batch that names no point.
	Failure string `json:"failure,omitempty"`
	Cached  bool   `json:"cached,omitempty"` // came from the re-execution cache
}
