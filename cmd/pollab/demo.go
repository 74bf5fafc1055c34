package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:      "demo",
		Usage:     "run the embedded demo spec end to end (a few minutes on two cores)",
		UsageText: "pollab demo [--out DIR]",
		Description: "Trains honest proofs on synthetic data, forges them with Zhang et al.'s attacks I-III and\n" +
			"Fang et al.'s infinitesimal and Blindfold attacks, verifies every proof in every env over\n" +
			"the delta x Q x audit grid, and writes results.csv, the summary and the figures.\n" +
			"A second run re-executes nothing and reproduces the same CSV. Default DIR: results/demo.",
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 0 {
				return usageError{fmt.Errorf("demo: unexpected argument %q", c.Args().First())}
			}
			return runSpec(c, "demo")
		},
	})
}
