package verifier

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"pollab/data"
	"pollab/internal/registry"
	"pollab/models"
	"pollab/proof"
	"pollab/stats"
)

// Check is one defence of a Policy. Gather lets it collect its finding from the proof (no
// re-execution) into the Evidence; Decide lets it judge that Evidence. A check is a plain
// value (its configuration: a threshold, a mode), so one Evidence serves every check of a
// sweep.
//
// Collect must not depend on the check's configuration: Gather calls it once per check name
// for all the policies it gathers for (a KS finding serves every alpha). A finding the
// Evidence has no typed field for is stored with Evidence.SetFinding under the check's name.
type Check interface {
	// Name is the check's registered kind: what Verdict.Check names when it rejects (the
	// replay check rejects as CheckTopQ or CheckAudit, after the failing interval's selection).
	Name() string
	// Collect records the check's finding about src's proof in ev.
	Collect(src *Source, ev *Evidence) error
	// Judge is nil when the evidence passes the check, otherwise the rejection. A finding the
	// evidence lacks is a rejection with Check CheckIncomplete (Incomplete).
	Judge(j *Judging) *Rejection
}

// Replaying marks a check that judges re-executions: a policy holding one re-executes its
// interval selection (Policy.Needed); a policy without one re-executes nothing.
type Replaying interface {
	Check
	JudgesReplays()
}

// Validator is a check whose configuration can be invalid (Policy.Validate calls it).
type Validator interface {
	Validate() error
}

// Source is what a check collects from: the proof, its parsed model, the declared dataset
// (loaded), W0 and its buffers, and the optimizer state every checkpoint stores, read in
// Gather's one streaming pass over the checkpoints.
type Source struct {
	Proof    *proof.Proof
	Manifest *proof.Manifest
	Model    models.Model
	Train    *data.Dataset
	Env      Env
	W0       []float64         // the parameters of checkpoint 0
	B0       []float64         // the buffers (running statistics) of checkpoint 0; nil without
	States   []CheckpointState // per checkpoint, in order
}

// CheckpointState is the optimizer state a checkpoint stores (its parameters are not kept).
type CheckpointState struct {
	Step        int
	LR          float64
	HasMomentum bool
}

// Judging is what a check judges: the evidence and, for checks of re-executions, the
// policy's interval selection and the hyperparameter mode the intervals were re-executed
// under.
type Judging struct {
	Ev    *Evidence
	Top   []int  // the top-Q intervals, sorted
	Audit []int  // the audited intervals, sorted
	Mode  string // HparamsTrustCheckpoint or HparamsEnforceManifest
}

// Rejection is why a check rejects: the Verdict's check, interval (-1: none), step (-1:
// none) and one-line reason.
type Rejection struct {
	Check    string
	Interval int
	Step     int
	Reason   string
}

// Reject is a Rejection with a formatted reason.
func Reject(check string, interval, step int, format string, a ...any) *Rejection {
	return &Rejection{Check: check, Interval: interval, Step: step, Reason: fmt.Sprintf(format, a...)}
}

// Incomplete is the rejection of a check whose finding the evidence lacks.
func Incomplete(format string, a ...any) *Rejection {
	return Reject(CheckIncomplete, -1, -1, format, a...)
}

// SetFinding stores a check's finding in the evidence under name (as JSON, so evidence
// files keep it).
func (ev *Evidence) SetFinding(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("finding %s: %w", name, err)
	}
	if ev.Findings == nil {
		ev.Findings = map[string]json.RawMessage{}
	}
	ev.Findings[name] = b
	return nil
}

// Finding reads the finding stored under name into v; false when there is none.
func (ev *Evidence) Finding(name string, v any) (bool, error) {
	b, ok := ev.Findings[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("finding %s: %w", name, err)
	}
	return true, nil
}

// Kind is a registered check: its name (a spec's [verify.check.NAME], the Verdict.Check of
// its rejections), its help text, where Decide applies it, and a fresh configuration.
type Kind struct {
	Name  string
	Usage string
	// Order places the check in a policy built from configurations (Decide judges in
	// order, cheap checks first): init 10, data 20, membership 30, hparams 40, replay 100.
	Order int
	// NewConfig returns the check's configuration with its defaults set.
	NewConfig func() Config
	// Columns are the results-CSV columns that label every row of a sweep with this check's
	// setting (the replay check's metric, delta, normalized, delta_norm, d_ref), in header
	// order. A check of a Kind with Columns implements Labeller. Labels of single variants
	// (Variant.Labels) need none.
	Columns []Column
}

// Column is a results-CSV column of a check kind: its name, its value on a row decided
// without the check, and how a value read back from a CSV is validated (a results CSV is
// input like any other: a malformed label is an error, not a silent NaN).
type Column struct {
	Name, Off string
	Parse     func(string) error // nil accepts any text
}

// ParseFloatLabel accepts a float label (empty reads as NaN).
func ParseFloatLabel(s string) error {
	if s == "" {
		return nil
	}
	_, err := strconv.ParseFloat(s, 64)
	return err
}

// ParseBoolLabel accepts the labels of a switch, 0 or 1.
func ParseBoolLabel(s string) error {
	if s != "0" && s != "1" {
		return fmt.Errorf("%q is not 0 or 1", s)
	}
	return nil
}

// Labeller is a check whose setting labels its rows in the columns its Kind declares
// (Kind.Columns, in that order): their values for a proof whose calibration (the distance
// between two honest runs' final weights) is dref, nil when there is none.
type Labeller interface {
	Check
	Labels(dref *stats.Distances) []Label
}

// Config is a check's typed configuration: a pointer to a struct with json tags (a spec's
// [verify.check.NAME] section is decoded into it, unknown keys are errors), whose fields
// Flags binds to flags of pollab verify.
type Config interface {
	Flags() []Flag
	// Variants are the checks the configuration stands for: none when it leaves the check
	// off, one for a single setting (what pollab verify needs), several for a sweep (a list
	// of thresholds), each with the CSV labels that tell it from the others.
	Variants() ([]Variant, error)
}

// Variant is one check of a configuration's sweep, with the columns that label its rows
// in a results CSV (none for a configuration of one variant).
type Variant struct {
	Check  Check
	Labels []Label
}

// Label is one CSV column of a sweep variant.
type Label struct{ Column, Value string }

// Flag binds a command-line flag of pollab verify to a configuration field: Set receives
// the flag's text when it is given. Bool flags are switches (Set receives "true").
type Flag struct {
	Name, Usage string
	Default     string // shown in the help; the configuration already holds it
	Bool        bool
	Set         func(string) error
}

// kinds holds the registered checks.
var kinds = registry.New[Kind]("verifier")

// Register makes a check available by name. It panics when the name is empty, taken or a
// reserved Verdict check (a programming error, found at start-up).
func Register(k Kind) {
	if k.NewConfig == nil || slices.Contains([]string{CheckTopQ, CheckAudit, CheckIncomplete}, k.Name) {
		panic("verifier: Register of a check without NewConfig or under a reserved name: " + k.Name)
	}
	kinds.Register(k.Name, k)
}

// Kinds lists the registered checks in their Order (then name).
func Kinds() []Kind {
	out := kinds.All()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// LookupKind returns the registered check of that name.
func LookupKind(name string) (Kind, error) {
	k, ok := kinds.Lookup(name)
	if !ok {
		var names []string
		for _, k := range Kinds() {
			names = append(names, k.Name)
		}
		return Kind{}, fmt.Errorf("check %q: want one of %s", name, strings.Join(names, ", "))
	}
	return k, nil
}

// Configs is one configuration of every registered check, in Kinds order: what pollab
// verify binds its flags to.
func Configs() []Config {
	var out []Config
	for _, k := range Kinds() {
		out = append(out, k.NewConfig())
	}
	return out
}

// PolicyOf builds the policy of sel and the configurations' checks: each configuration
// must stand for at most one check (a sweep is expanded by the caller).
func PolicyOf(sel Selection, cfgs []Config) (Policy, error) {
	p := Policy{Select: sel}
	for _, c := range cfgs {
		vs, err := c.Variants()
		if err != nil {
			return Policy{}, err
		}
		switch len(vs) {
		case 0:
		case 1:
			p.Checks = append(p.Checks, vs[0].Check)
		default:
			return Policy{}, fmt.Errorf("check %s: %d settings where one is needed", vs[0].Check.Name(), len(vs))
		}
	}
	return p, p.Validate()
}

// One is the variant list of a configuration of exactly one check.
func One(c Check) []Variant { return []Variant{{Check: c}} }
