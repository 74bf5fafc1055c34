package experiments

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"pollab/internal/atomicfile"
	"pollab/stats"
)

// Per-forgery crafting tables of a run: what gradient matching (Zhang et al.) achieved, from
// the attack reports the runner keeps beside the proofs (cache/reports/<proof dir>.json).
const (
	CraftingMD  = "crafting.md"
	CraftingCSV = "crafting.csv"
)

// CraftingRow is one forgery's crafting outcome: the gradient-matching residual |g − g*|²
// of each step's real batch (before crafting) and of its kept crafted batch.
type CraftingRow struct {
	Kind   string  `json:"kind"`
	Seed   uint64  `json:"seed"`
	Steps  int     `json:"steps"` // T'
	Lambda float64 `json:"lambda"`
	// Crafted is the number of crafted batches (steps) the medians are over; Tries counts
	// every crafting try (retries included).
	Crafted, Tries int
	// StartMedian and ResidualMedian are the medians over steps of the residual before and
	// after crafting; Reduction* summarise 1 − residual/start per step.
	StartMedian, ResidualMedian                 float64
	ReductionMedian, ReductionMin, ReductionMax float64
	NormR2Max                                   float64 // largest |r|² kept
	ProofDir                                    string  // cache/proofs/<dir>
}

// craftingReport is the part of an attack report (attacks.Result.Report as JSON) the table
// reads; attacks without per-step crafting statistics have none.
type craftingReport struct {
	Lambda    float64 `json:"lambda"`
	Tries     int     `json:"tries"`
	StepStats []struct {
		StartResidual float64 `json:"start_residual"`
		Residual      float64 `json:"residual"`
		NormR2        float64 `json:"norm_r2"`
	} `json:"step_stats"`
}

// reportPath is where the runner keeps the attack report of forged proof j.
func (r *runner) reportPath(j *proofJob) string {
	return filepath.Join(r.cache, "reports", filepath.Base(j.dir)+".json")
}

// craftingRows reads the reports of the forged proofs that have crafting statistics; a
// proof forged before reports were kept has none and is left out.
func (r *runner) craftingRows(forged []*proofJob) ([]CraftingRow, error) {
	var rows []CraftingRow
	for _, j := range forged {
		b, err := os.ReadFile(r.reportPath(j))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rep craftingReport
		if err := json.Unmarshal(b, &rep); err != nil {
			return nil, fmt.Errorf("attack report %s: %w", r.reportPath(j), err)
		}
		if len(rep.StepStats) == 0 {
			continue
		}
		row := CraftingRow{Kind: j.kind, Seed: j.seed, Steps: j.steps, Lambda: rep.Lambda, Crafted: len(rep.StepStats),
			Tries: rep.Tries, ProofDir: filepath.Base(j.dir)}
		var starts, res, red []float64
		for _, s := range rep.StepStats {
			starts, res = append(starts, s.StartResidual), append(res, s.Residual)
			if s.StartResidual > 0 {
				red = append(red, 1-s.Residual/s.StartResidual)
			}
			row.NormR2Max = math.Max(row.NormR2Max, s.NormR2)
		}
		row.StartMedian, row.ResidualMedian = stats.Median(starts), stats.Median(res)
		row.ReductionMedian = stats.Median(red)
		row.ReductionMin, row.ReductionMax = math.NaN(), math.NaN()
		if len(red) > 0 {
			row.ReductionMin, row.ReductionMax = slices.Min(red), slices.Max(red)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// craftingNotes are one line per kind: the median per-step residual reduction over all its
// crafted steps.
func craftingNotes(rows []CraftingRow) []string {
	var kinds []string
	byKind := map[string][]CraftingRow{}
	for _, r := range rows {
		if _, ok := byKind[r.Kind]; !ok {
			kinds = append(kinds, r.Kind)
		}
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}
	var notes []string
	for _, k := range kinds {
		var n int
		var meds []float64
		r2 := 0.0
		for _, r := range byKind[k] {
			n += r.Crafted
			meds = append(meds, r.ReductionMedian)
			r2 = math.Max(r2, r.NormR2Max)
		}
		notes = append(notes, fmt.Sprintf("%s: crafting (lambda %g) lowered the residual |g - g*|^2 by a median %.1f%% per step (median of %d proofs' medians, %d crafted steps; |r|^2 max %.3g)",
			k, byKind[k][0].Lambda, 100*stats.Median(meds), len(meds), n, r2))
	}
	return notes
}

// WriteCrafting writes crafting.csv and crafting.md into dir.
func WriteCrafting(dir string, rows []CraftingRow) error {
	var c bytes.Buffer
	w := csv.NewWriter(&c)
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	_ = w.Write([]string{"kind", "seed", "steps", "lambda", "crafted", "tries", "start_residual_median", "residual_median",
		"reduction_median", "reduction_min", "reduction_max", "norm_r2_max", "proof_dir"})
	for _, r := range rows {
		_ = w.Write([]string{r.Kind, strconv.FormatUint(r.Seed, 10), strconv.Itoa(r.Steps), f(r.Lambda), strconv.Itoa(r.Crafted),
			strconv.Itoa(r.Tries), f(r.StartMedian), f(r.ResidualMedian), f(r.ReductionMedian), f(r.ReductionMin), f(r.ReductionMax),
			f(r.NormR2Max), r.ProofDir})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, CraftingCSV), c.Bytes()); err != nil {
		return err
	}
	var m bytes.Buffer
	m.WriteString("# Gradient matching: what crafting achieved\n\n")
	m.WriteString("Per forged proof: the residual |g − g*|² of each step's real batch before crafting (start) and of the kept crafted batch, medians over its steps; reduction = 1 − residual/start per step.\n\n")
	m.WriteString("| kind | seed | T' | lambda | steps | tries | start (median) | crafted (median) | reduction median [min, max] | \\|r\\|² max |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&m, "| %s | %d | %d | %g | %d | %d | %.4g | %.4g | %.1f%% [%.1f%%, %.1f%%] | %.3g |\n", r.Kind, r.Seed, r.Steps, r.Lambda,
			r.Crafted, r.Tries, r.StartMedian, r.ResidualMedian, 100*r.ReductionMedian, 100*r.ReductionMin, 100*r.ReductionMax, r.NormR2Max)
	}
	if notes := craftingNotes(rows); len(notes) > 0 {
		m.WriteString("\n")
		for _, n := range notes {
			m.WriteString("- " + n + "\n")
		}
	}
	return atomicfile.WriteFile(filepath.Join(dir, CraftingMD), m.Bytes())
}
