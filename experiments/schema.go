package experiments

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"pollab/internal/atomicfile"
	"pollab/verifier"
)

// Row is one line of results.csv: one proof, verified in one env, decided under one policy
// point (metric, delta, Q, audit). Every column is documented in results/README.md.
type Row struct {
	Experiment  string // spec name
	ProofID     string // first 16 hex digits of the SHA-256 of the proof's manifest.json
	Kind        string // honest, zhang-I, zhang-II, zhang-III, infinitesimal, blindfold
	Seed        uint64 // the honest seed (for a forgery: the seed of the honest proof it targets)
	Model       string
	Dataset     string
	DType       string
	Params      int // trainable parameters
	K           int // checkpoint interval of this proof
	Steps       int // training steps T (honest) or T' (forged) the proof claims
	Checkpoints int
	TargetSteps int     // steps T of the honest proof the forgery targets (= Steps for honest)
	TargetK     int     // k of the honest proof the forgery targets (= K for honest)
	AttackDelta float64 // infinitesimal/blindfold crafting gap (normalised l2); NaN otherwise
	AttackQ     int     // blindfold genuinely computed intervals per epoch; 0 otherwise

	Env   string
	Q     int // verifier top-Q per epoch; 0 = every interval
	Audit int // random audits per proof
	// Here the header has the registered checks' columns (verifier.Kind.Columns; the replay
	// check's metric, delta, normalized, delta_norm, d_ref), held in Extra and read through
	// the accessors below.

	Accepted       bool
	FailedCheck    string // empty when accepted
	FailedInterval int    // -1 when none
	Checked        int    // intervals re-executed for this point
	ReexecSteps    int    // SGD steps those intervals cost

	MaxRepro     [4]float64 // max over checked intervals, raw: l1, l2, linf, cos (NaN: none checked)
	MaxReproNorm [4]float64 // the same divided by d_ref per metric

	CostFLOPs      float64 // FLOPs the prover or attacker spent making the proof
	CostWallS      float64 // wall seconds inside engine calls for the same work
	HonestFLOPs    float64 // FLOPs of the honest training the forgery targets (same T)
	CostFraction   float64 // CostFLOPs / HonestFLOPs
	FLOPsPerParam  float64 // CostFLOPs / Params
	ProofGradEquiv float64 // CostFLOPs in gradient computations of one honest batch

	// Extra holds the check columns by name: those of the registered checks (Columns, at
	// their place in the header), the labels of checks' sweep variants
	// (verifier.Variant.Labels) and, for models with buffers, BuffersColumn; the latter two
	// are written after Columns, in column-name order, only when some row has one.
	Extra map[string]string
}

// The replay check's columns (verifier.CheckReplay's Kind.Columns), as the figures and
// tables read them.

// Metric is the replay check's one metric, or MetricAll.
func (r *Row) Metric() string { return r.label("metric") }

// Delta is the replay threshold in raw units of the metric (NaN for MetricAll).
func (r *Row) Delta() float64 { return r.labelFloat("delta") }

// Normalized reports whether the point was specified in units of d_ref.
func (r *Row) Normalized() bool { return r.label("normalized") == "1" }

// DeltaNorm is Delta / d_ref(metric).
func (r *Row) DeltaNorm() float64 { return r.labelFloat("delta_norm") }

// DRef is d_ref of Metric: the distance between two honest seeds' final weights.
func (r *Row) DRef() float64 { return r.labelFloat("d_ref") }

// label is the row's value of a check column: its Extra value, or the registered check's
// value for a row decided without it.
func (r *Row) label(column string) string {
	if v, ok := r.Extra[column]; ok {
		return v
	}
	for _, c := range checkColumns() {
		if c.Name == column {
			return c.Off
		}
	}
	return ""
}

func (r *Row) labelFloat(column string) float64 {
	v, err := strconv.ParseFloat(r.label(column), 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// setLabels stores labels in Extra.
func (r *Row) setLabels(labels []verifier.Label) {
	if r.Extra == nil {
		r.Extra = make(map[string]string, len(labels))
	}
	for _, l := range labels {
		r.Extra[l.Column] = l.Value
	}
}

// The fixed columns before and after the registered checks' columns.
var (
	columnsHead = []string{
		"experiment", "proof_id", "kind", "seed", "model", "dataset", "dtype", "params",
		"k", "steps", "checkpoints", "target_steps", "target_k", "attack_delta", "attack_q",
		"env", "q", "audit",
	}
	columnsTail = []string{
		"accepted", "failed_check", "failed_interval", "checked_intervals", "reexec_steps",
		"max_repro_l1", "max_repro_l2", "max_repro_linf", "max_repro_cos",
		"max_repro_norm_l1", "max_repro_norm_l2", "max_repro_norm_linf", "max_repro_norm_cos",
		"cost_flops", "cost_wall_s", "honest_flops_same_T", "cost_fraction", "flops_per_param", "cost_grad_equiv",
	}
)

// checkColumns are the registered checks' columns (verifier.Kind.Columns) in check order,
// each with its value on a row decided without the check.
func checkColumns() []verifier.Column {
	var out []verifier.Column
	for _, k := range verifier.Kinds() {
		out = append(out, k.Columns...)
	}
	return out
}

// Columns is the CSV header, in order: the proof and selection columns, the registered
// checks' columns, the decision and cost columns.
func Columns() []string {
	out := slices.Clone(columnsHead)
	for _, c := range checkColumns() {
		out = append(out, c.Name)
	}
	return append(out, columnsTail...)
}

func ff(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func fb(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (r *Row) record(checks []verifier.Column) []string {
	rec := []string{
		r.Experiment, r.ProofID, r.Kind, strconv.FormatUint(r.Seed, 10), r.Model, r.Dataset, r.DType,
		strconv.Itoa(r.Params), strconv.Itoa(r.K), strconv.Itoa(r.Steps), strconv.Itoa(r.Checkpoints),
		strconv.Itoa(r.TargetSteps), strconv.Itoa(r.TargetK), ff(r.AttackDelta), strconv.Itoa(r.AttackQ),
		r.Env, strconv.Itoa(r.Q), strconv.Itoa(r.Audit),
	}
	for _, c := range checks {
		v, ok := r.Extra[c.Name]
		if !ok {
			v = c.Off
		}
		rec = append(rec, v)
	}
	rec = append(rec,
		fb(r.Accepted), r.FailedCheck, strconv.Itoa(r.FailedInterval), strconv.Itoa(r.Checked), strconv.Itoa(r.ReexecSteps))
	for _, v := range r.MaxRepro {
		rec = append(rec, ff(v))
	}
	for _, v := range r.MaxReproNorm {
		rec = append(rec, ff(v))
	}
	return append(rec, ff(r.CostFLOPs), ff(r.CostWallS), ff(r.HonestFLOPs), ff(r.CostFraction),
		ff(r.FLOPsPerParam), ff(r.ProofGradEquiv))
}

// rowParser reads the fields of one record by column name, keeping the first error.
type rowParser struct {
	rec []string
	col map[string]int
	err error
}

func (p *rowParser) str(name string) string {
	i, ok := p.col[name]
	if !ok {
		if p.err == nil {
			p.err = fmt.Errorf("missing column %q", name)
		}
		return ""
	}
	return p.rec[i]
}

func (p *rowParser) float(name string) float64 {
	s := p.str(name)
	if s == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("column %s: %w", name, err)
	}
	return v
}

func (p *rowParser) int(name string) int {
	v, err := strconv.Atoi(p.str(name))
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("column %s: %w", name, err)
	}
	return v
}

func (p *rowParser) bool(name string) bool {
	switch s := p.str(name); s {
	case "1", "true":
		return true
	case "0", "false":
		return false
	default:
		if p.err == nil {
			p.err = fmt.Errorf("column %s: %q is not 0 or 1", name, s)
		}
		return false
	}
}

func (p *rowParser) row() Row {
	seed, err := strconv.ParseUint(p.str("seed"), 10, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("column seed: %w", err)
	}
	r := Row{
		Experiment: p.str("experiment"), ProofID: p.str("proof_id"), Kind: p.str("kind"), Seed: seed,
		Model: p.str("model"), Dataset: p.str("dataset"), DType: p.str("dtype"), Params: p.int("params"),
		K: p.int("k"), Steps: p.int("steps"), Checkpoints: p.int("checkpoints"), TargetSteps: p.int("target_steps"), TargetK: p.int("target_k"),
		AttackDelta: p.float("attack_delta"), AttackQ: p.int("attack_q"),
		Env: p.str("env"), Q: p.int("q"), Audit: p.int("audit"),
		Accepted: p.bool("accepted"), FailedCheck: p.str("failed_check"), FailedInterval: p.int("failed_interval"),
		Checked: p.int("checked_intervals"), ReexecSteps: p.int("reexec_steps"),
		CostFLOPs: p.float("cost_flops"), CostWallS: p.float("cost_wall_s"), HonestFLOPs: p.float("honest_flops_same_T"),
		CostFraction: p.float("cost_fraction"), FLOPsPerParam: p.float("flops_per_param"), ProofGradEquiv: p.float("cost_grad_equiv"),
	}
	for i, m := range Metrics {
		r.MaxRepro[i] = p.float("max_repro_" + m)
		r.MaxReproNorm[i] = p.float("max_repro_norm_" + m)
	}
	return r
}

// SortRows orders rows canonically, so equal results give byte-identical CSVs.
func SortRows(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		switch {
		case a.Kind != b.Kind:
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		case a.Seed != b.Seed:
			return a.Seed < b.Seed
		case a.K != b.K:
			return a.K < b.K
		case a.Steps != b.Steps:
			return a.Steps < b.Steps
		case a.ProofID != b.ProofID:
			return a.ProofID < b.ProofID
		case a.Env != b.Env:
			return a.Env < b.Env
		case (defenceOf(a) == "") != (defenceOf(b) == ""):
			return defenceOf(a) == "" // the grid's points, then the matrix's defences
		case defenceOf(a) != "":
			return false // defences keep their (spec) order
		case a.Q != b.Q:
			return a.Q < b.Q
		case a.Audit != b.Audit:
			return a.Audit < b.Audit
		case a.Metric() != b.Metric():
			return metricIndex(a.Metric()) < metricIndex(b.Metric())
		case a.Normalized() != b.Normalized():
			return !a.Normalized()
		default:
			return a.Delta() < b.Delta()
		}
	})
}

func kindOrder(k string) string {
	if k == KindHonest {
		return "0"
	}
	return "1" + k
}

func metricIndex(m string) int {
	for i, x := range Metrics {
		if x == m {
			return i
		}
	}
	return len(Metrics)
}

// extraColumns is the sorted union of the rows' Extra columns that are not in Columns.
func extraColumns(rows []Row) []string {
	seen := map[string]bool{}
	for _, c := range Columns() {
		seen[c] = true
	}
	var out []string
	for i := range rows {
		for c := range rows[i].Extra {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out
}

// WriteCSV writes the header and rows: Columns, then the checks' label columns when the
// rows have any (extraColumns).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	extra := extraColumns(rows)
	if err := cw.Write(append(Columns(), extra...)); err != nil {
		return fmt.Errorf("write CSV header: %w", err)
	}
	checks := checkColumns()
	for i := range rows {
		rec := rows[i].record(checks)
		for _, c := range extra {
			rec = append(rec, rows[i].Extra[c])
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write CSV row %d: %w", i, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}

// ReadCSV parses a results CSV written by WriteCSV (columns are found by name; the checks'
// columns, registered or not, go to Row.Extra).
func ReadCSV(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	col := make(map[string]int, len(header))
	var extra []int
	for i, h := range header {
		col[h] = i
		if !slices.Contains(columnsHead, h) && !slices.Contains(columnsTail, h) {
			extra = append(extra, i)
		}
	}
	checks := checkColumns()
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		p := rowParser{rec: rec, col: col}
		row := p.row()
		if p.err != nil {
			return nil, fmt.Errorf("CSV line %d: %w", line, p.err)
		}
		for _, i := range extra {
			if row.Extra == nil {
				row.Extra = map[string]string{}
			}
			row.Extra[header[i]] = rec[i]
		}
		for _, c := range checks {
			if v, ok := row.Extra[c.Name]; ok && c.Parse != nil {
				if err := c.Parse(v); err != nil {
					return nil, fmt.Errorf("CSV line %d: column %s: %w", line, c.Name, err)
				}
			}
		}
		rows = append(rows, row)
	}
}

// ReadCSVFile reads a results CSV from disk; a name ending in .gz is gunzipped.
func ReadCSVFile(name string) ([]Row, error) {
	r, err := openCSVFile(name)
	if err != nil {
		return nil, err
	}
	rows, err := ReadCSV(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows, nil
}

// openCSVFile returns a reader of the results CSV name, read whole and gunzipped when the
// name ends in .gz.
func openCSVFile(name string) (io.Reader, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("results CSV: %w", err)
	}
	var r io.Reader = bytes.NewReader(raw)
	if strings.HasSuffix(name, ".gz") {
		if r, err = gzip.NewReader(r); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return r, nil
}

// WriteCSVFile writes rows atomically to name; a name ending in .gz is gzipped.
func WriteCSVFile(name string, rows []Row) error {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if strings.HasSuffix(name, ".gz") {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
		w = zw
	}
	if err := WriteCSV(w, rows); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compress %s: %w", name, err)
		}
	}
	return atomicfile.WriteFile(name, buf.Bytes())
}

// FindResultsCSV returns dir's results CSV: results.csv, or results.csv.gz (how committed
// reference runs store it).
func FindResultsCSV(dir string) (string, error) {
	for _, n := range []string{ResultsCSV, ResultsCSV + ".gz"} {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s holds neither %s nor %s.gz (run pollab sweep or pollab demo first)", dir, ResultsCSV, ResultsCSV)
}
