package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"pollab/gauntlet"
)

func init() {
	register(&cli.Command{
		Name:      "gauntlet",
		Usage:     "simulate Templar's Gauntlet scoring: honest peers, free-riders and other cheaters, rewards, catch windows",
		UsageText: "pollab gauntlet [--out DIR] [--workers N] [--windows N] [--quiet] [--json] [SPEC]",
		Description: "SPEC is a TOML spec file or the name of an embedded spec (" + strings.Join(gauntlet.Embedded(), ", ") +
			"; default gauntlet).\nEach (scenario, seed) run keeps its state under DIR/runs/ after every window, so a killed run\n" +
			"resumes where it stopped. Results: DIR/peers.csv, global.csv, summary.{md,csv,json}, provenance.json,\n" +
			"figures/*.png. Default DIR: results/<spec name>.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "results directory (default results/<spec name>)"},
			&cli.IntFlag{Name: "workers", Usage: "runs at once (0: the spec's, else one per CPU)"},
			&cli.IntFlag{Name: "windows", Usage: "override the spec's number of windows (0: the spec's)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as one JSON document"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 1 {
				return usageError{fmt.Errorf("gauntlet: want at most one SPEC argument, got %d", c.Args().Len())}
			}
			name := "gauntlet"
			if c.Args().Len() == 1 {
				name = c.Args().First()
			}
			spec, err := gauntlet.LoadSpec(name)
			if err != nil {
				return usageError{err}
			}
			if c.Int("workers") < 0 || c.Int("windows") < 0 {
				return usageError{fmt.Errorf("gauntlet: --workers %d and --windows %d must be >= 0", c.Int("workers"), c.Int("windows"))}
			}
			if w := c.Int("windows"); w > 0 {
				spec.Windows = w
			}
			out := c.String("out")
			if out == "" {
				out = filepath.Join("results", spec.Name)
			}
			ctx, stop := interruptible()
			defer stop()
			bar := newProgress(1, "gauntlet "+spec.Name, c.Bool("quiet") || c.Bool("json"))
			rep, err := gauntlet.Run(ctx, spec, gauntlet.Options{
				Out: out, Workers: c.Int("workers"), Version: pollabVersion(), Command: os.Args,
				Progress: bar.Grow,
			})
			bar.Done()
			if err != nil {
				return fmt.Errorf("gauntlet %s: %w", spec.Name, err)
			}
			if c.Bool("json") {
				return printJSON(rep.Summary)
			}
			fmt.Print(rep.Summary.Markdown())
			printf(os.Stdout, "\nresults in %s\n", out)
			return nil
		},
	})
}
