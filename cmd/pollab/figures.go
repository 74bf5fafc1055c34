package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"pollab/experiments"
)

func init() {
	register(&cli.Command{
		Name:      "figures",
		Usage:     "redraw the figures and the summary from a results directory's CSV alone",
		UsageText: "pollab figures DIR [--out FIGDIR] [--style paper-2col|paper-1col|slides] [--measured NOISEDIR]",
		Description: "Reads DIR/results.csv or DIR/results.csv.gz (no proof or evidence is needed) and writes DIR/figures/*.{png,svg,pdf} with a caption *.md beside each\n" +
			"and DIR/summary.{md,csv,json,tex} and DIR/comparison.{md,csv,tex} (pollab vs the published numbers).\n" +
			"DIR/" + experiments.MeasuredNoiseCSV + ", when present, adds measured honest re-executions to fig1_trap; --measured NOISEDIR (e.g. results/torch-noise)\n" +
			"writes it first from the intervals NOISEDIR measured in DIR's setting (model, dataset, dtype, batch, lr, momentum, weight decay).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "figure directory (default DIR/figures)"},
			&cli.StringFlag{Name: "measured", Usage: "noise measurement directory (python3 -m pollab_torch noise) whose intervals in DIR's setting go to DIR/" + experiments.MeasuredNoiseCSV},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as one JSON document"},
			&cli.StringFlag{Name: "style", Value: experiments.DefaultStyle,
				Usage: "figure size and fonts: " + strings.Join(experiments.StyleNames(), ", ")},
		},
		Action: figuresAction,
	})
}

func figuresAction(c *cli.Context) error {
	dir, err := oneArg(c, "figures", "results DIR")
	if err != nil {
		return err
	}
	csvPath, err := experiments.FindResultsCSV(dir)
	if err != nil {
		return usageError{fmt.Errorf("figures: %w", err)}
	}
	rows, err := experiments.ReadCSVFile(csvPath)
	if err != nil {
		return usageError{err}
	}
	figDir := c.String("out")
	if figDir == "" {
		figDir = filepath.Join(dir, experiments.FiguresDir)
	}
	style, err := experiments.StyleNamed(c.String("style"))
	if err != nil {
		return usageError{fmt.Errorf("figures: %w", err)}
	}
	if noiseDir := c.String("measured"); noiseDir != "" {
		spec, err := experiments.ReadSpecOf(dir)
		if err != nil {
			return usageError{fmt.Errorf("figures --measured: %w", err)}
		}
		ms, err := experiments.ImportMeasured(noiseDir, spec)
		if err != nil {
			return usageError{fmt.Errorf("figures --measured: %w", err)}
		}
		if err := experiments.WriteMeasured(dir, ms); err != nil {
			return err
		}
	}
	measured, err := experiments.ReadMeasured(dir)
	if err != nil {
		return usageError{fmt.Errorf("figures: %w", err)}
	}
	figs, err := experiments.DrawFigures(rows, figDir, style, measured...)
	if err != nil {
		return err
	}
	sum := experiments.Summarize(rows)
	if err := experiments.WriteSummary(dir, sum); err != nil {
		return err
	}
	if err := experiments.WriteTables(dir, sum, rows); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(sum.JSONValue())
	}
	w := os.Stdout
	printf(w, "%d rows from %s\n", len(rows), csvPath)
	for _, f := range figs {
		printf(w, "  %s.{png,svg,pdf,md}: %d points\n", filepath.Join(figDir, f.Name), f.Points)
		for _, n := range f.Notes {
			printf(w, "    %s\n", n)
		}
	}
	printf(w, "summary: %s (also .csv, .json, .tex)\n", filepath.Join(dir, experiments.SummaryMD))
	printf(w, "pollab vs published: %s (also .csv, .tex)\n", filepath.Join(dir, experiments.ComparisonMD))
	return nil
}
