// Package enum maps the values of pollab's small enumerations to their names and back: one
// table per type replaces a Parse switch and a String switch.
package enum

import (
	"fmt"
	"strings"
)

// Value is one value of an enumeration with its names: the first is the canonical one
// (String), every one parses.
type Value[T ~int | ~uint8] struct {
	V     T
	Names []string
}

// V is the value v with its names.
func V[T ~int | ~uint8](v T, names ...string) Value[T] { return Value[T]{V: v, Names: names} }

// Table is an enumeration's names. Type names the Go type (String of an unknown value is
// "Type(n)"), What the thing parsed and Want the accepted spellings (Parse's error:
// `What "s": want Want`). Fold is the case folding applied to both sides before they are
// compared (strings.ToLower when nil).
type Table[T ~int | ~uint8] struct {
	Type, What, Want string
	Fold             func(string) string
	Values           []Value[T]
}

// Parse returns the value one of whose names is s, ignoring surrounding space and case.
func (t *Table[T]) Parse(s string) (T, error) {
	fold := t.Fold
	if fold == nil {
		fold = strings.ToLower
	}
	k := fold(strings.TrimSpace(s))
	for _, v := range t.Values {
		for _, n := range v.Names {
			if fold(n) == k {
				return v.V, nil
			}
		}
	}
	return 0, fmt.Errorf("%s %q: want %s", t.What, s, t.Want)
}

// String returns v's canonical name, or "Type(n)" for a value not in the table.
func (t *Table[T]) String(v T) string {
	for _, e := range t.Values {
		if e.V == v {
			return e.Names[0]
		}
	}
	return fmt.Sprintf("%s(%d)", t.Type, int(v))
}

// Choice reads a string-valued setting whose accepted values are names, the default first:
// s without surrounding space when it is one of them, names[0] when it is empty; otherwise
// the error `what "s": want a or b`.
func Choice(what, s string, names ...string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return names[0], nil
	}
	for _, n := range names {
		if s == n {
			return n, nil
		}
	}
	return "", fmt.Errorf("%s %q: want %s", what, s, strings.Join(names, " or "))
}
