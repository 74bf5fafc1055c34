package experiments

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"pollab/attacks"
)

// Overrides change a spec at load time, from the command line: a spec written for the
// papers' full scale (paper-cifar) runs at any smaller scale without editing it, and the same
// overrides given to every Slurm worker (Args) resolve to the same spec hash.
type Overrides struct {
	// Epochs > 0 trains for that many epochs and scales the lr milestones by Epochs over the
	// spec's epochs, so the schedule keeps its shape (Set "train.epochs=E" keeps them).
	Epochs int
	// Seeds > 0 uses honest seeds 1..Seeds (at least two: d_ref needs two honest runs).
	Seeds int
	// ForgedSteps, when not empty, is the list of forged lengths T' of every attack that
	// takes `steps` (Zhang et al.'s variants and the infinitesimal attack).
	ForgedSteps []int
	// Set holds KEY=VALUE assignments, VALUE a TOML value (a bare word that is not one is
	// taken as a string: dataset=fashion-mnist). KEY is a dotted spec key (train.k,
	// verify.q, seeds, models), attack.KEY for every attack with that key, or attack.SEL.KEY
	// for the attacks whose kind or label is SEL (attack.zhang-II.steps, attack.blindfold.q).
	// Assignments are applied after the named fields above; one key set twice is an error.
	Set []string
}

// Empty reports whether o changes nothing.
func (o Overrides) Empty() bool {
	return o.Epochs == 0 && o.Seeds == 0 && len(o.ForgedSteps) == 0 && len(o.Set) == 0
}

// Args are the command-line flags that give these overrides (--epochs, --seeds,
// --forged-steps, --set), in a fixed order: what a Slurm worker is started with.
func (o Overrides) Args() []string {
	var a []string
	if o.Epochs != 0 {
		a = append(a, "--epochs", strconv.Itoa(o.Epochs))
	}
	if o.Seeds != 0 {
		a = append(a, "--seeds", strconv.Itoa(o.Seeds))
	}
	if len(o.ForgedSteps) > 0 {
		s := make([]string, len(o.ForgedSteps))
		for i, t := range o.ForgedSteps {
			s[i] = strconv.Itoa(t)
		}
		a = append(a, "--forged-steps", strings.Join(s, ","))
	}
	for _, s := range o.Set {
		a = append(a, "--set", s)
	}
	return a
}

// LoadSpecWith is LoadSpec with overrides applied before defaults and validation.
func LoadSpecWith(nameOrPath string, o Overrides) (*Spec, error) {
	if o.Empty() {
		return LoadSpec(nameOrPath)
	}
	s, err := loadRaw(nameOrPath, 0, false)
	if err != nil {
		return nil, err
	}
	if err := o.apply(s); err != nil {
		return nil, fmt.Errorf("spec %s: %w", nameOrPath, err)
	}
	s.fillDefaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("spec %s with overrides %s: %w", nameOrPath, strings.Join(o.Args(), " "), err)
	}
	return s, nil
}

// assignment is one parsed KEY=VALUE.
type assignment struct {
	key   []string // dotted path
	value string   // a TOML value
}

func (a assignment) String() string { return strings.Join(a.key, ".") + "=" + a.value }

var (
	bareKey  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	bareWord = regexp.MustCompile(`^[A-Za-z0-9_.:+,=/-]+$`)
)

// parseAssignment splits KEY=VALUE and checks that VALUE is a TOML value (or a bare word,
// which becomes a string).
func parseAssignment(s string) (assignment, error) {
	k, v, ok := strings.Cut(s, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !ok || k == "" || v == "" {
		return assignment{}, fmt.Errorf("--set %q: want KEY=VALUE", s)
	}
	a := assignment{key: strings.Split(k, ".")}
	for _, part := range a.key {
		if !bareKey.MatchString(part) {
			return assignment{}, fmt.Errorf("--set %q: key part %q: want letters, digits, _ or -", s, part)
		}
	}
	var probe map[string]any
	if _, err := toml.Decode("v = "+v, &probe); err == nil {
		a.value = v
	} else if bareWord.MatchString(v) {
		a.value = strconv.Quote(v)
	} else {
		return assignment{}, fmt.Errorf("--set %q: value %s is not a TOML value (quote strings, [a, b] for lists)", s, v)
	}
	return a, nil
}

// assignments are the named overrides as KEY=VALUE, then Set, parsed; s is the raw spec
// (for the milestones Epochs scales).
func (o Overrides) assignments(s *Spec) ([]assignment, error) {
	var as []assignment
	named := func(key, value string) { as = append(as, assignment{key: strings.Split(key, "."), value: value}) }
	switch {
	case o.Epochs < 0:
		return nil, fmt.Errorf("--epochs %d: want >= 1", o.Epochs)
	case o.Epochs > 0:
		named("train.epochs", strconv.Itoa(o.Epochs))
		if len(s.Train.Milestones) > 0 && s.Train.Epochs > 0 && o.Epochs != s.Train.Epochs {
			scaled := make([]float64, len(s.Train.Milestones))
			for i, m := range s.Train.Milestones {
				scaled[i] = m * float64(o.Epochs) / float64(s.Train.Epochs)
			}
			named("train.milestones", tomlFloats(scaled))
		}
	}
	switch {
	case o.Seeds < 0 || o.Seeds == 1:
		return nil, fmt.Errorf("--seeds %d: want >= 2 (d_ref is the distance between two honest seeds)", o.Seeds)
	case o.Seeds > 1:
		seeds := make([]string, o.Seeds)
		for i := range seeds {
			seeds[i] = strconv.Itoa(i + 1)
		}
		named("seeds", "["+strings.Join(seeds, ", ")+"]")
	}
	if len(o.ForgedSteps) > 0 {
		steps := make([]string, len(o.ForgedSteps))
		for i, t := range o.ForgedSteps {
			if t < 1 {
				return nil, fmt.Errorf("--forged-steps %d: want >= 1", t)
			}
			steps[i] = strconv.Itoa(t)
		}
		named("attack.steps", "["+strings.Join(steps, ", ")+"]")
	}
	for _, x := range o.Set {
		a, err := parseAssignment(x)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	seen := map[string]bool{}
	for _, a := range as {
		k := strings.Join(a.key, ".")
		if seen[k] {
			return nil, fmt.Errorf("override %s: %s is set twice", a, k)
		}
		seen[k] = true
	}
	return as, nil
}

// tomlFloats writes a list of floats as TOML (always with a decimal point or exponent).
func tomlFloats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s[i], ".eEn") && !math.IsInf(x, 0) {
			s[i] += ".0"
		}
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// apply changes the raw (not yet defaulted) spec s.
func (o Overrides) apply(s *Spec) error {
	as, err := o.assignments(s)
	if err != nil {
		return err
	}
	var top bytes.Buffer
	var onAttacks []assignment
	for _, a := range as {
		switch {
		case a.key[0] == "attack" && len(a.key) >= 2 && len(a.key) <= 3:
			onAttacks = append(onAttacks, a)
		case a.key[0] == "attack":
			return fmt.Errorf("override %s: want attack.KEY or attack.KIND.KEY", a)
		case a.key[0] == "extends":
			return fmt.Errorf("override %s: extends cannot be overridden", a)
		default:
			fmt.Fprintf(&top, "%s = %s\n", strings.Join(a.key, "."), a.value)
		}
	}
	if top.Len() > 0 {
		md, err := toml.NewDecoder(bytes.NewReader(top.Bytes())).Decode(s)
		if err != nil {
			return fmt.Errorf("override: %w", err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return fmt.Errorf("override: unknown spec key %s (configs/README.md lists the keys)", und[0])
		}
	}
	for _, a := range onAttacks {
		if err := s.setOnAttacks(a); err != nil {
			return err
		}
	}
	return nil
}

// setOnAttacks assigns attack.KEY (every attack whose configuration has KEY) or
// attack.SEL.KEY (those whose kind or label is SEL); an assignment no attack takes is an error.
func (s *Spec) setOnAttacks(a assignment) error {
	sel, key := "", a.key[1]
	if len(a.key) == 3 {
		sel, key = a.key[1], a.key[2]
	}
	if key == "kind" {
		return fmt.Errorf("override %s: an attack's kind cannot be overridden", a)
	}
	doc := key + " = " + a.value + "\n"
	applied := 0
	for i := range s.Attacks {
		at := &s.Attacks[i]
		if sel != "" && sel != at.Kind && sel != at.Config.Label() {
			continue
		}
		// Decode into a fresh configuration first: a key this kind does not have leaves the
		// attack alone; a bad value is an error.
		kind, err := attacks.Lookup(at.Kind)
		if err != nil {
			return err
		}
		probe := kind.NewConfig()
		md, err := toml.Decode(doc, probe)
		if err != nil {
			return fmt.Errorf("override %s: attack %d (%s): %w", a, i, at.Config.Label(), err)
		}
		if len(md.Undecoded()) > 0 {
			continue
		}
		if _, err := toml.Decode(doc, at.Config); err != nil {
			return fmt.Errorf("override %s: attack %d (%s): %w", a, i, at.Config.Label(), err)
		}
		applied++
	}
	if applied == 0 {
		return fmt.Errorf("override %s: no attack of the spec takes %q", a, key)
	}
	return nil
}
