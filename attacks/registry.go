package attacks

import (
	"flag"
	"fmt"
	"maps"
	"slices"

	"pollab/internal/registry"
	"pollab/stats"
)

// Kind is a spoofer plug-in. Its package registers it in init (Register), the way image
// formats and database/sql drivers register themselves: the experiment harness and the CLI
// know only this and Config, so adding an attack is one new package (or file) and a blank
// import.
type Kind struct {
	// Name is the spec's `kind` and the `pollab attack NAME` subcommand.
	Name string
	// Usage is one line of help; Description the paragraph under it.
	Usage, Description string
	// Budgeted says the attack aims under a threshold delta (Forgery.Budget).
	Budgeted bool
	// NewConfig returns a configuration with every field unset, to be filled from a spec's
	// [[attack]] section (TOML keys of its fields) or from its Flags.
	NewConfig func() Config
}

// Config is one configuration of a spoofer: the attack's own typed fields. A field a spec or
// a command line leaves out stays unset (Opt, or a nil list) and takes the attack's default.
// Configs must be pointers to structs with `toml` tags (and `json` tags: specs are hashed and
// recorded as JSON).
type Config interface {
	// Flags binds the fields to command-line flags (besides the target, --out, --seed and,
	// when Budgeted, the threshold flags every spoofer shares).
	Flags() []Flag
	// Validate reports the first field that no target could make valid.
	Validate() error
	// Label is the CSV kind of the proofs it forges ("zhang-II", "infinitesimal").
	Label() string
	// Plan is what the harness forges per honest target.
	Plan() Plan
	// Weight estimates the work of one forgery of steps T' (the honest T when the plan leaves
	// it unset) and interval k, in honest SGD steps (3·F·B each): typical, and a bound where
	// the work depends on the data (retries). It drives progress and `pollab plan`'s FLOPs;
	// no target exists yet.
	Weight(steps, k int) (typical, bound float64)
	// New configures the attack for one forgery.
	New(f Forgery) (Attack, error)
}

// Plan is the sweep a configuration asks the harness for: one forged proof per element of
// Steps × Deltas (an empty list is one proof: default length, or no delta).
type Plan struct {
	Steps  []int     // forged lengths T'; empty: the attack's default for the target
	Deltas []float64 // normalised l2 thresholds aimed under; empty: none
	K      int       // checkpoint interval; 0: the target's k
	Q      int       // genuinely computed intervals per epoch (CSV attack_q); 0: none
	// PayloadBatches is how many batches of crafted points the forged proof stores per step
	// (Zhang et al.: 1), for disk estimates.
	PayloadBatches int
}

// Forgery is one forged proof to make: a configuration's Plan resolved against a target.
type Forgery struct {
	Target *Target
	Steps  int     // T'; 0: the attack's default for the target
	K      int     // 0: the target's k
	Budget *Budget // the absolute threshold aimed under; nil for attacks that aim under none
	Seed   uint64
}

// DeltasOr is deltas, or Fang et al.'s stats.ReferenceNormalizedDelta alone when none is
// listed: the sweep of an attack that aims under a delta.
func DeltasOr(deltas []float64) []float64 {
	if len(deltas) == 0 {
		return []float64{stats.ReferenceNormalizedDelta}
	}
	return deltas
}

// KOr is the forgery's k, or the target's when unset.
func (f Forgery) KOr() int {
	if f.K > 0 {
		return f.K
	}
	return f.Target.Manifest.K
}

// StepsOr is the forgery's T', or the target's T when unset.
func (f Forgery) StepsOr() int {
	if f.Steps > 0 {
		return f.Steps
	}
	return f.Target.Manifest.Steps
}

// Flag binds a command-line flag to a configuration field.
type Flag struct {
	Name, Usage string
	Value       flag.Value
}

// kinds holds the registered spoofers.
var kinds = registry.New[Kind]("attacks")

// Register makes a spoofer available by name. It panics when the name is empty or taken
// (a programming error, found at start-up).
func Register(k Kind) {
	if k.NewConfig == nil {
		panic("attacks: Register of a kind without NewConfig")
	}
	kinds.Register(k.Name, k)
}

// Lookup returns the registered spoofer of that name.
func Lookup(name string) (Kind, error) {
	k, ok := kinds.Lookup(name)
	if !ok {
		return Kind{}, fmt.Errorf("attack kind %q: want one of %v", name, Names())
	}
	return k, nil
}

// Names lists the registered spoofers, sorted.
func Names() []string { return kinds.Sorted() }

// AtLeastOne checks that every given option is >= 1, in name order.
func AtLeastOne(opts map[string]Opt[int]) error {
	for _, name := range slices.Sorted(maps.Keys(opts)) {
		if o := opts[name]; o.Given && o.Value < 1 {
			return fmt.Errorf("%s %d: want >= 1", name, o.Value)
		}
	}
	return nil
}

// Positive checks that every given option is a positive number, in name order.
func Positive(opts map[string]Opt[float64]) error {
	for _, name := range slices.Sorted(maps.Keys(opts)) {
		if o := opts[name]; o.Given && !(o.Value > 0) {
			return fmt.Errorf("%s %v: want positive", name, o.Value)
		}
	}
	return nil
}

// OneOf checks that a configured name is one of the allowed values.
func OneOf(field, v string, allowed ...string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%s %q: want one of %v", field, v, allowed)
	}
	return nil
}
