// Command pollab forges and verifies Proof-of-Learning proofs.
//
// This package only parses flags and prints; every mechanism lives in the library packages.
// Exit codes: 0 success or proof accepted, 1 proof rejected, 2 bad input or usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Exit codes of the CLI contract.
const (
	exitOK       = 0
	exitRejected = 1
	exitBadInput = 2
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise the module's build info.
var version = ""

// commands is filled by each command file's init, so a command lives in one file.
var commands []*cli.Command

func register(c *cli.Command) { commands = append(commands, c) }

func pollabVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev := ""
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
		if rev != "" {
			return "0.1.0+" + rev
		}
	}
	return "0.1.0"
}

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	quietUsageErrors(commands)
	return &cli.App{
		Name:           "pollab",
		Usage:          "forge and verify Proof-of-Learning proofs",
		Version:        pollabVersion(),
		Commands:       commands,
		ExitErrHandler: func(*cli.Context, error) {}, // main prints errors once, in one format
		OnUsageError: func(c *cli.Context, err error, isSub bool) error {
			return usageError{err}
		},
	}
}

func main() { os.Exit(run(os.Args)) }

// run executes the CLI and maps every outcome, including a panic, to the exit-code contract.
func run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			// One line, whatever the panic value holds; no stack (the contract is one line).
			fmt.Fprintf(os.Stderr, "pollab: internal error: %s (please report this input)\n", oneLine(fmt.Sprint(r)))
			code = exitBadInput
		}
	}()
	app := newApp()
	if err := checkCommandPath(app.Commands, args); err != nil {
		return exitCode(err)
	}
	err := app.Run(hoistFlags(app.Commands, args))
	return exitCode(err)
}

// quietUsageErrors makes a bad flag of any command a one-line usage error (exit 2) instead of
// cli's "Incorrect Usage" followed by the whole help text.
func quietUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
		quietUsageErrors(c.Subcommands)
	}
}

// usageError marks bad flags or arguments.
type usageError struct{ error }

// noArguments refuses positional arguments to a command that takes only flags.
func noArguments(c *cli.Context, command string) error {
	if c.Args().Len() > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", command, c.Args().First())}
	}
	return nil
}

// interruptible is the context of a long-running command: Ctrl-C or SIGTERM cancels it, and
// the library packages stop between steps (what was written so far stays consistent).
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// rejectedError marks a verdict of "rejected": the message is printed, the exit code is 1.
type rejectedError struct{ msg string }

func (e rejectedError) Error() string { return e.msg }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var rej rejectedError
	if errors.As(err, &rej) {
		if rej.msg != "" {
			fmt.Fprintf(os.Stderr, "pollab: rejected: %s\n", rej.msg)
		}
		return exitRejected
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() == exitOK {
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "pollab: %s\n", oneLine(err.Error()))
	return exitBadInput
}

// oneLine keeps error output to one line, as the contract promises.
func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
