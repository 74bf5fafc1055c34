package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestHoistFlags(t *testing.T) {
	sub := &cli.Command{Name: "zhang", Flags: []cli.Flag{&cli.StringFlag{Name: "target"}, &cli.BoolFlag{Name: "json"}}}
	cmds := []*cli.Command{
		{Name: "verify", Flags: []cli.Flag{&cli.StringFlag{Name: "env"}, &cli.IntFlag{Name: "q"}, &cli.BoolFlag{Name: "json"}}},
		{Name: "attack", Subcommands: []*cli.Command{sub}},
	}
	cases := []struct{ in, want []string }{
		{[]string{"pollab", "verify", "DIR", "--env", "dtype", "--json", "--q=2"},
			[]string{"pollab", "verify", "--env", "dtype", "--json", "--q=2", "--", "DIR"}},
		{[]string{"pollab", "verify", "--env", "dtype", "DIR"},
			[]string{"pollab", "verify", "--env", "dtype", "--", "DIR"}},
		{[]string{"pollab", "verify", "DIR", "--", "--odd-name"},
			[]string{"pollab", "verify", "--", "DIR", "--odd-name"}},
		{[]string{"pollab", "attack", "zhang", "x", "--target", "T", "--json"},
			[]string{"pollab", "attack", "zhang", "--target", "T", "--json", "--", "x"}},
		{[]string{"pollab", "verify", "--json"}, []string{"pollab", "verify", "--json"}},
		{[]string{"pollab", "nosuch", "a", "--b"}, []string{"pollab", "nosuch", "a", "--b"}},
		{[]string{"pollab", "verify", "DIR", "--unknown", "v"}, // unknown flags stay flags: cli names them
			[]string{"pollab", "verify", "--unknown", "--", "DIR", "v"}},
	}
	for _, c := range cases {
		if got := hoistFlags(cmds, c.in); !slices.Equal(got, c.want) {
			t.Errorf("hoistFlags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUnknownFlagIsOneLine(t *testing.T) {
	for _, argv := range [][]string{
		{"pollab", "verify", "DIR", "--bogus"},
		{"pollab", "attack", "zhang", "--bogus"},
		{"pollab", "sweep", "demo", "--bogus"},
	} {
		var code int
		out := captureStderr(t, func() { code = run(argv) })
		if code != exitBadInput || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "bogus") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line naming the flag", argv, code, out)
		}
	}
}
