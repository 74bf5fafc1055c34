package main

import (
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"pollab/autodiff"
	"pollab/proof"
	"pollab/stats"
)

func init() {
	register(&cli.Command{
		Name:      "inspect",
		Usage:     "summarise a proof: steps, checkpoints, size, accuracy, per-interval update magnitudes",
		UsageText: "pollab inspect DIR [--json]",
		Description: "Reads and validates the proof, then every checkpoint in order, and prints the update\n" +
			"magnitude d(W_ik, W_(i+1)k) of each interval in l1, l2, linf and cosine distance.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
		},
		Action: inspectAction,
	})
}

// intervalReport is one interval's update magnitude.
type intervalReport struct {
	Interval int             `json:"interval"`
	From     int             `json:"from_step"`
	To       int             `json:"to_step"`
	LR       float64         `json:"lr"` // the lr stored in the interval's first checkpoint
	Update   stats.Distances `json:"update"`
}

// inspectReport is the --json document of pollab inspect.
type inspectReport struct {
	Dir          string            `json:"dir"`
	Format       string            `json:"format"`
	Producer     string            `json:"producer,omitempty"`
	Model        string            `json:"model"`
	Params       int               `json:"params"`
	Dataset      string            `json:"dataset"`
	DType        string            `json:"dtype"`
	Hyper        proof.Hyper       `json:"hyper"`
	Batch        int               `json:"batch"`
	Epochs       int               `json:"epochs"`
	Steps        int               `json:"steps"`
	K            int               `json:"k"`
	Augment      proof.AugmentInfo `json:"augment"`
	Payload      int               `json:"payload_points"`
	Checkpoints  int               `json:"checkpoints"`
	Bytes        int64             `json:"bytes_on_disk"`
	TestAccuracy *float64          `json:"test_accuracy,omitempty"` // from provenance.json, when recorded
	Ledger       *autodiff.Cost    `json:"ledger,omitempty"`
	Intervals    []intervalReport  `json:"intervals"`
}

func inspectAction(c *cli.Context) error {
	jsonOut := c.Bool("json")
	dir, err := oneArg(c, "inspect", "proof directory")
	if err != nil {
		return err
	}
	p, err := proof.Open(dir)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", dir, err)
	}
	m := p.Manifest()
	rep := inspectReport{
		Dir: dir, Format: m.Format, Producer: m.Producer, Model: m.Model, Dataset: m.Dataset.Name,
		DType: m.DType, Hyper: m.Hyper(), Batch: m.Batch, Epochs: m.Epochs, Steps: m.Steps, K: m.K,
		Augment: m.Augment, Checkpoints: p.NumCheckpoints(), Intervals: []intervalReport{},
	}
	if pl := p.Payload(); pl != nil {
		rep.Payload = pl.Len()
	}
	if rep.Bytes, err = dirBytes(dir); err != nil {
		return fmt.Errorf("inspect %s: %w", dir, err)
	}
	if prov, ok := p.Provenance(); ok {
		rep.TestAccuracy = notedAccuracy(prov.Notes)
		rep.Ledger = prov.Ledger
	}
	err = p.Scan(func(i int, prev, c *proof.Checkpoint) error {
		if prev == nil {
			rep.Params = len(c.Params)
			return nil
		}
		rep.Intervals = append(rep.Intervals, intervalReport{
			Interval: i - 1, From: prev.Step, To: c.Step, LR: prev.LR,
			Update: stats.Distance(prev.Params, c.Params),
		})
		return nil
	})
	if err != nil {
		return fmt.Errorf("inspect %s: %w", dir, err)
	}
	if jsonOut {
		return printJSON(rep)
	}
	printInspect(humanOut(false), &rep)
	return nil
}

func printInspect(w io.Writer, r *inspectReport) {
	printf(w, "proof: %s (%s", r.Dir, r.Format)
	if r.Producer != "" {
		printf(w, ", producer %q (unverified)", r.Producer)
	}
	printf(w, ")\n")
	printf(w, "  model %s (%d parameters, %s), dataset %s\n", r.Model, r.Params, r.DType, r.Dataset)
	h := r.Hyper
	printf(w, "  sgd lr %g momentum %g weight decay %g milestones %v gamma %g; batch %d, epochs %d\n",
		h.LR, h.Momentum, h.WeightDecay, h.Milestones, h.Gamma, r.Batch, r.Epochs)
	printf(w, "  steps %d, k %d, %d checkpoints, %d bytes on disk", r.Steps, r.K, r.Checkpoints, r.Bytes)
	if r.Augment.Enabled {
		printf(w, ", augmentation (pad %d, seeds recorded: %v)", r.Augment.Pad, r.Augment.SeedsRecorded)
	}
	if r.Payload > 0 {
		printf(w, ", %d payload points", r.Payload)
	}
	printf(w, "\n")
	if r.TestAccuracy != nil {
		printf(w, "  final test accuracy: %.4f (from provenance.json, unverified)\n", *r.TestAccuracy)
	} else {
		printf(w, "  final test accuracy: not recorded\n")
	}
	if r.Ledger != nil {
		printLedger(w, *r.Ledger)
	}
	printf(w, "  update magnitudes d(W_i, W_i+1):\n")
	printf(w, "  %8s %17s %12s %12s %12s %12s %12s\n", "interval", "steps", "lr", "l1", "l2", "linf", "cos")
	for _, iv := range r.Intervals {
		printf(w, "  %8d %17s %12.4g %12.4g %12.4g %12.4g %12.4g\n", iv.Interval, fmt.Sprintf("%d-%d", iv.From, iv.To),
			iv.LR, iv.Update.L1, iv.Update.L2, iv.Update.Linf, iv.Update.Cos)
	}
}

// dirBytes is the total size of the regular files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// notedAccuracy reads the test accuracy the prover noted in provenance.json's notes
// ("test_accuracy=0.9712 ..."), or nil when absent or malformed: it is informational only.
func notedAccuracy(notes string) *float64 {
	for _, field := range strings.Fields(notes) {
		if v, ok := strings.CutPrefix(field, "test_accuracy="); ok {
			if acc, err := strconv.ParseFloat(v, 64); err == nil && acc >= 0 && acc <= 1 {
				return &acc
			}
		}
	}
	return nil
}
