package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"pollab/data"
	"pollab/internal/atomicfile"
)

func init() {
	register(&cli.Command{
		Name:      "export-data",
		Usage:     "write a dataset split in pollab's encoding to one file, for other implementations (python/pollab_torch)",
		UsageText: "pollab export-data NAME [--split train|test] --out FILE",
		Description: "Writes the split exactly as pollab sees it, so another trainer or verifier (PyTorch) trains\n" +
			"on the same bytes and computes the same point hashes and fingerprint:\n" +
			"  \"PLDS\" u32 version 1, u32 header length H, H bytes of JSON {name, shape, classes, n,\n" +
			"  encoding (u8: feature = byte/255; f32: little-endian float32), fingerprint (hex)},\n" +
			"  then n raw points of prod(shape) features, then n label bytes.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "split", Usage: "train or test", Value: "train"},
			&cli.StringFlag{Name: "out", Usage: "file to write"},
		},
		Action: exportDataAction,
	})
}

func exportDataAction(c *cli.Context) error {
	if c.Args().Len() != 1 {
		return usageError{errors.New("export-data: want exactly one dataset name")}
	}
	out := c.String("out")
	if out == "" {
		return usageError{errors.New("export-data: --out FILE is required")}
	}
	var split data.Split
	switch c.String("split") {
	case "train":
		split = data.Train
	case "test":
		split = data.Test
	default:
		return usageError{fmt.Errorf("export-data: --split %q: want train or test", c.String("split"))}
	}
	ds, err := data.Load(c.Args().First(), split)
	if err != nil {
		return fmt.Errorf("export-data: %w", err)
	}
	var buf bytes.Buffer
	if err := data.Export(&buf, ds); err != nil {
		return fmt.Errorf("export-data: %w", err)
	}
	if err := atomicfile.WriteFile(out, buf.Bytes()); err != nil {
		return fmt.Errorf("export-data: %w", err)
	}
	fmt.Printf("wrote %s: %s (%s), %d points\n", out, ds.Name, c.String("split"), ds.Len())
	return nil
}
