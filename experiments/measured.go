package experiments

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"pollab/internal/atomicfile"
)

// MeasuredNoiseCSV is the optional file of a results directory holding honest re-executions
// measured outside pollab in the run's setting (the `torch` env of results/torch-noise:
// PyTorch re-executing pollab's proofs and pollab PyTorch's). fig1 draws them beside the
// simulated envs; nothing else reads them, and a directory without the file draws as before.
// `pollab figures DIR --measured NOISEDIR` writes it (ImportMeasured).
const MeasuredNoiseCSV = "measured-noise.csv"

// MeasuredInterval is one interval re-executed by another implementation: its distances to
// the proof's next checkpoint, raw (normalised by the run's d_ref when drawn).
type MeasuredInterval struct {
	Source                string // the measurement directory, its start time and intervals.csv's SHA-256 prefix
	Config                string // the measurement's name for the setting and run (e.g. "mlp-paper")
	Model, Dataset, DType string
	Batch                 int
	LR, Momentum, WD      float64
	Direction             string // e.g. "torch→pollab": who recorded the proof → who re-executed it
	Threads, K            int    // the re-executor's threads; the proof's checkpoint interval
	Interval, Start, End  int
	Dist                  [4]float64 // l1, l2, linf, cos (Metrics order)
}

var measuredColumns = []string{"source", "config", "model", "dataset", "dtype", "batch", "lr", "momentum", "weight_decay",
	"direction", "threads", "k", "interval", "start", "end", "l1", "l2", "linf", "cos"}

// noiseConfig is one setting of a noise measurement's provenance.json ("configs").
type noiseConfig struct {
	Spec     string  `json:"spec"`
	Data     string  `json:"data"`
	Batch    int     `json:"batch"`
	LR       float64 `json:"lr"`
	Momentum float64 `json:"momentum"`
	WD       float64 `json:"wd"`
	Steps    int     `json:"steps"`
}

// ImportMeasured reads a noise measurement directory (intervals.csv and provenance.json, as
// `python3 -m pollab_torch noise` writes them) and returns the intervals measured in spec's
// setting (a model of spec, its dataset, dtype, batch, lr, momentum and weight decay) at the
// spec's checkpoint intervals k, across implementations: directions naming pollab (one
// implementation's proof, the other's re-execution); PyTorch replaying itself is left out. It
// is an error when none match.
func ImportMeasured(noiseDir string, spec *Spec) ([]MeasuredInterval, error) {
	var prov struct {
		Start   string                 `json:"start"`
		Configs map[string]noiseConfig `json:"configs"`
	}
	if err := readJSON(filepath.Join(noiseDir, "provenance.json"), &prov); err != nil {
		return nil, fmt.Errorf("measured noise: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(noiseDir, "intervals.csv"))
	if err != nil {
		return nil, fmt.Errorf("measured noise: %w", err)
	}
	sum := sha256.Sum256(raw)
	source := fmt.Sprintf("%s (measured %s, intervals.csv sha256 %s)", filepath.Base(filepath.Clean(noiseDir)), prov.Start, hex.EncodeToString(sum[:8]))
	recs, col, err := readCSVRecords(bytes.NewReader(raw), []string{"model", "dtype", "direction", "threads", "k", "interval", "start", "end", "l1", "l2", "linf", "cos"})
	if err != nil {
		return nil, fmt.Errorf("measured noise %s: %w", filepath.Join(noiseDir, "intervals.csv"), err)
	}
	var out []MeasuredInterval
	for line, rec := range recs {
		cfg, ok := prov.Configs[rec[col["model"]]]
		if !ok {
			return nil, fmt.Errorf("measured noise: intervals.csv line %d: model %q has no setting in provenance.json", line+2, rec[col["model"]])
		}
		data := strings.ReplaceAll(cfg.Data, "{n}", strconv.Itoa(cfg.Steps*cfg.Batch))
		p := rowParser{rec: rec, col: col}
		k := p.int("k")
		if p.err != nil {
			return nil, fmt.Errorf("measured noise: intervals.csv line %d: %w", line+2, p.err)
		}
		if !strings.Contains(rec[col["direction"]], "pollab") || !slices.Contains(spec.Train.K, k) || !slices.Contains(spec.Models, cfg.Spec) || data != spec.Dataset || rec[col["dtype"]] != spec.DType ||
			cfg.Batch != spec.Train.Batch || cfg.LR != spec.Train.LR || cfg.Momentum != spec.Train.Momentum || cfg.WD != spec.Train.WeightDecay {
			continue
		}
		m := MeasuredInterval{Source: source, Config: rec[col["model"]], Model: cfg.Spec, Dataset: data, DType: spec.DType, Batch: cfg.Batch,
			LR: cfg.LR, Momentum: cfg.Momentum, WD: cfg.WD, Direction: rec[col["direction"]],
			Threads: p.int("threads"), K: k, Interval: p.int("interval"), Start: p.int("start"), End: p.int("end")}
		for i, name := range Metrics {
			m.Dist[i] = p.float(name)
		}
		if p.err != nil {
			return nil, fmt.Errorf("measured noise: intervals.csv line %d: %w", line+2, p.err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("measured noise: %s has no measurement in this run's setting (models %s, dataset %s, dtype %s, batch %d, lr %g, momentum %g, weight decay %g)",
			noiseDir, strings.Join(spec.Models, ", "), spec.Dataset, spec.DType, spec.Train.Batch, spec.Train.LR, spec.Train.Momentum, spec.Train.WeightDecay)
	}
	return out, nil
}

// readCSVRecords reads a CSV with a header holding at least the named columns; it returns
// the records after the header and each column's index.
func readCSVRecords(r io.Reader, need []string) ([][]string, map[string]int, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	if len(recs) == 0 {
		return nil, nil, errors.New("empty file, no header")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, nil, fmt.Errorf("missing column %q", n)
		}
	}
	return recs[1:], col, nil
}

// WriteMeasured writes the intervals to dir/MeasuredNoiseCSV, atomically.
func WriteMeasured(dir string, ms []MeasuredInterval) error {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(measuredColumns) // a bytes.Buffer does not fail
	for _, m := range ms {
		rec := []string{m.Source, m.Config, m.Model, m.Dataset, m.DType, strconv.Itoa(m.Batch), ff(m.LR), ff(m.Momentum), ff(m.WD),
			m.Direction, strconv.Itoa(m.Threads), strconv.Itoa(m.K), strconv.Itoa(m.Interval), strconv.Itoa(m.Start), strconv.Itoa(m.End)}
		for _, d := range m.Dist {
			rec = append(rec, ff(d))
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	return atomicfile.WriteFile(filepath.Join(dir, MeasuredNoiseCSV), buf.Bytes())
}

// ReadMeasured reads dir/MeasuredNoiseCSV; a directory without one has none (nil, nil).
func ReadMeasured(dir string) ([]MeasuredInterval, error) {
	name := filepath.Join(dir, MeasuredNoiseCSV)
	raw, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	recs, col, err := readCSVRecords(bytes.NewReader(raw), measuredColumns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []MeasuredInterval
	for line, rec := range recs {
		p := rowParser{rec: rec, col: col}
		m := MeasuredInterval{Source: rec[col["source"]], Config: rec[col["config"]], Model: rec[col["model"]], Dataset: rec[col["dataset"]], DType: rec[col["dtype"]],
			Batch: p.int("batch"), LR: p.float("lr"), Momentum: p.float("momentum"), WD: p.float("weight_decay"),
			Direction: rec[col["direction"]], Threads: p.int("threads"), K: p.int("k"), Interval: p.int("interval"),
			Start: p.int("start"), End: p.int("end")}
		for i, n := range Metrics {
			m.Dist[i] = p.float(n)
		}
		if p.err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, line+2, p.err)
		}
		out = append(out, m)
	}
	return out, nil
}

// ReadSpecOf returns the spec a results directory was produced from (its provenance.json).
func ReadSpecOf(dir string) (*Spec, error) {
	var prov Provenance
	if err := readJSON(filepath.Join(dir, ProvenanceJSON), &prov); err != nil {
		return nil, err
	}
	if prov.Spec == nil {
		return nil, fmt.Errorf("%s has no spec", filepath.Join(dir, ProvenanceJSON))
	}
	return prov.Spec, nil
}

// measuredRun is one measured re-execution of a whole proof: its intervals' largest distance
// per metric.
type measuredRun struct {
	source  string
	model   string
	start   int // first and last step covered
	end     int
	maxDist [4]float64
	n       int
}

// measuredRuns groups the intervals of interval k into whole-proof re-executions (one per
// source, measured run, model, direction and threads), in a fixed order.
func measuredRuns(ms []MeasuredInterval, k int) []measuredRun {
	idx := map[string]int{}
	var out []measuredRun
	for _, m := range ms {
		if m.K != k {
			continue
		}
		key := m.Source + "\x00" + m.Config + "\x00" + m.Model + "\x00" + m.Direction + "\x00" + strconv.Itoa(m.Threads)
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, measuredRun{source: m.Source, model: m.Model, start: m.Start, end: m.End})
		}
		r := &out[i]
		r.start, r.end, r.n = min(r.start, m.Start), max(r.end, m.End), r.n+1
		for j, d := range m.Dist {
			r.maxDist[j] = max(r.maxDist[j], d)
		}
	}
	return out
}
