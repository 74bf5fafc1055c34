package attacks

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Opt is a configuration value that may be unset: a spec's [[attack]] section or a command
// line that does not give it leaves it unset, and the attack then takes its documented
// default. Zero is a value like any other (lambda = 0 means no penalty, not "the default").
// It decodes from TOML (UnmarshalTOML) and from a flag (Set), and encodes to JSON as the
// value, or null when unset.
type Opt[T int | uint64 | float64 | string | bool] struct {
	Value T
	Given bool
}

// Or is the value when given, else def.
func (o Opt[T]) Or(def T) T {
	if o.Given {
		return o.Value
	}
	return def
}

// UnmarshalTOML takes a TOML value of T's type (an integer literal also fills a float).
func (o *Opt[T]) UnmarshalTOML(v any) error {
	switch p := any(&o.Value).(type) {
	case *int:
		i, ok := v.(int64)
		if !ok || int64(int(i)) != i {
			return fmt.Errorf("%v: want an integer", v)
		}
		*p = int(i)
	case *uint64:
		i, ok := v.(int64)
		if !ok || i < 0 {
			return fmt.Errorf("%v: want a non-negative integer", v)
		}
		*p = uint64(i)
	case *float64:
		switch x := v.(type) {
		case float64:
			*p = x
		case int64:
			*p = float64(x)
		default:
			return fmt.Errorf("%v: want a number", v)
		}
	case *string:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%v: want a string", v)
		}
		*p = s
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%v: want true or false", v)
		}
		*p = b
	}
	o.Given = true
	return nil
}

// Set parses a flag's text (flag.Value).
func (o *Opt[T]) Set(s string) error {
	var err error
	switch p := any(&o.Value).(type) {
	case *int:
		*p, err = strconv.Atoi(s)
	case *uint64:
		*p, err = strconv.ParseUint(s, 10, 64)
	case *float64:
		*p, err = strconv.ParseFloat(s, 64)
		if err == nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
			err = fmt.Errorf("%q is not a finite number", s)
		}
	case *string:
		*p = s
	case *bool:
		*p, err = strconv.ParseBool(s)
	}
	if err != nil {
		return err
	}
	o.Given = true
	return nil
}

// String is the value's text, or "" when unset (flag.Value).
func (o *Opt[T]) String() string {
	if o == nil || !o.Given {
		return ""
	}
	return fmt.Sprint(o.Value)
}

// IsBoolFlag lets a boolean option be given as a bare --flag.
func (o *Opt[T]) IsBoolFlag() bool { _, ok := any(o.Value).(bool); return ok }

// MarshalJSON is the value, or null when unset.
func (o Opt[T]) MarshalJSON() ([]byte, error) {
	if !o.Given {
		return []byte("null"), nil
	}
	return json.Marshal(o.Value)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = Opt[T]{}
		return nil
	}
	if err := json.Unmarshal(b, &o.Value); err != nil {
		return err
	}
	o.Given = true
	return nil
}

// intList is a flag.Value filling a list of integers from "16" or "4,8,16".
type intList struct{ p *[]int }

// Ints binds a flag to a list of integers (given as one value or a comma-separated list).
func Ints(p *[]int) flag.Value { return intList{p} }

func (l intList) Set(s string) error {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	*l.p = out
	return nil
}

func (l intList) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(*l.p)), ","), "[]")
}
