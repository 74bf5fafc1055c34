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
	"sync/atomic"
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
		// A repeated flag is the way to give several values: "--set verify.q=[1, 0]" and
		// "--sbatch-arg=--mail-type=END,FAIL" hold commas of their own.
		DisableSliceFlagSeparator: true,
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
	interruptedBy = atomic.Value{}
	resumeHint = "nothing half-written is left behind"
	app := newApp()
	if err := checkCommandPath(app.Commands, args); err != nil {
		return exitCode(err)
	}
	err := app.Run(hoistFlags(app.Commands, args))
	if code := interruptedExit(); code >= 0 && err != nil {
		return code
	}
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
// the library packages stop between steps (what was written so far stays consistent). The
// command then exits 128+signal (130 for Ctrl-C) with one line saying how to resume.
func interruptible() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			interruptedBy.Store(s)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// interruptedBy holds the signal that cancelled the running command, if any; resumeHint says
// how that command continues (set by the command, e.g. "rerun it: ...").
var (
	interruptedBy atomic.Value
	resumeHint    = "nothing half-written is left behind"
)

// interruptedExit prints the interruption line and returns the exit code, or -1 when no
// signal interrupted the command.
func interruptedExit() int {
	s, ok := interruptedBy.Load().(os.Signal)
	if !ok {
		return -1
	}
	code := 130
	if s == syscall.SIGTERM {
		code = 143
	}
	fmt.Fprintf(os.Stderr, "pollab: interrupted (%v): %s\n", s, resumeHint)
	return code
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
