package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// hoistFlags moves the flags of the invoked command in front of its positional arguments, so
// `pollab verify DIR --env dtype` and `pollab sweep paper --out DIR` parse as the contract
// writes them (urfave/cli stops reading flags at the first positional argument). Everything
// after "--" stays positional; a flag the command does not define is kept as a flag, so cli
// reports it.
func hoistFlags(cmds []*cli.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i, cmd := 1, (*cli.Command)(nil)
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			break
		}
		cmd, cmds, i = next, next.Subcommands, i+1
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, pos []string
	rest := args[i:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			pos = append(pos, rest[j+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && takesValue[name] && j+1 < len(rest) {
			j++
			flags = append(flags, rest[j])
		}
	}
	out := append(append([]string{}, args[:i]...), flags...)
	if len(pos) > 0 {
		out = append(append(out, "--"), pos...)
	}
	return out
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// oneArg is the one positional argument of command cmd (what names it in the error), or a
// usage error when there is not exactly one.
func oneArg(c *cli.Context, cmd, what string) (string, error) {
	if n := c.Args().Len(); n != 1 {
		return "", usageError{fmt.Errorf("%s: want exactly one %s, got %d arguments", cmd, what, n)}
	}
	return c.Args().First(), nil
}
