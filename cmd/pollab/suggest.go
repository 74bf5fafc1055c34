package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// checkCommandPath walks args (before flag hoisting) down the command tree and refuses, as a
// usage error, an unknown command or subcommand (with the closest name as a suggestion) and a
// command that needs a subcommand but got none (e.g. `pollab attack`). Flags and help requests
// end the walk; cli handles them.
func checkCommandPath(cmds []*cli.Command, args []string) error {
	path := "pollab"
	// cli adds a "help" subcommand to every command it has run; only real subcommands count.
	for i := 1; ; i++ {
		if i >= len(args) {
			if path != "pollab" && len(cmds) > 0 {
				return usageError{fmt.Errorf("%s: missing subcommand: one of %s", strings.TrimPrefix(path, "pollab "), strings.Join(commandNames(cmds), ", "))}
			}
			return nil
		}
		a := args[i]
		if strings.HasPrefix(a, "-") || a == "help" || a == "h" || len(cmds) == 0 {
			return nil
		}
		c := findCommand(cmds, a)
		if c == nil {
			where := "command"
			if path != "pollab" {
				where = strings.TrimPrefix(path, "pollab ") + " subcommand"
			}
			msg := fmt.Sprintf("unknown %s %q", where, a)
			if s := closest(a, commandNames(cmds)); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += "; one of " + strings.Join(commandNames(cmds), ", ")
			}
			return usageError{fmt.Errorf("%s", msg)}
		}
		path += " " + c.Name
		cmds = slices.DeleteFunc(slices.Clone(c.Subcommands), func(s *cli.Command) bool { return s.Name == "help" })
	}
}

func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return out
}

// closest is the name at the smallest edit distance from s, if that distance is small for
// the name's length (at most a third of it, and at least 1 allowed): "trian" -> "train".
func closest(s string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		if d := editDistance(strings.ToLower(s), n); d < bestD {
			best, bestD = n, d
		}
	}
	if bestD <= max(1, len(best)/3) || strings.HasPrefix(best, s) && len(s) >= 3 {
		return best
	}
	return ""
}

// editDistance is the Damerau-Levenshtein distance (adjacent transpositions count 1).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
