package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"pollab/experiments"
)

// specFlags change the spec at load time (experiments.Overrides): sweep, plan and the Slurm
// workers' job run take them, so a spec written at the papers' scale runs at any scale.
func specFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "epochs", Usage: "override: train E epochs, the lr milestones scaled by E over the spec's epochs"},
		&cli.IntFlag{Name: "seeds", Usage: "override: honest seeds 1..N (N >= 2)"},
		&cli.StringFlag{Name: "forged-steps", Usage: "override: forged lengths T' (comma-separated) of every attack that takes steps"},
		&cli.StringSliceFlag{Name: "set", Usage: "override KEY=VALUE (TOML value; repeatable): train.k=[10], verify.q=[1], attack.KEY=..., attack.zhang-II.steps=[40]"},
	}
}

// specOverrides reads the spec flags.
func specOverrides(c *cli.Context) (experiments.Overrides, error) {
	o := experiments.Overrides{Epochs: c.Int("epochs"), Seeds: c.Int("seeds"), Set: c.StringSlice("set")}
	if s := c.String("forged-steps"); s != "" {
		for _, f := range strings.Split(s, ",") {
			t, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return o, usageError{fmt.Errorf("--forged-steps %q: want comma-separated integers", s)}
			}
			o.ForgedSteps = append(o.ForgedSteps, t)
		}
	}
	return o, nil
}

// loadSpec loads CONFIG with the spec flags applied; a bad spec or override is a usage error.
func loadSpec(c *cli.Context, config string) (*experiments.Spec, experiments.Overrides, error) {
	o, err := specOverrides(c)
	if err != nil {
		return nil, o, err
	}
	spec, err := experiments.LoadSpecWith(config, o)
	if err != nil {
		return nil, o, usageError{err}
	}
	return spec, o, nil
}
