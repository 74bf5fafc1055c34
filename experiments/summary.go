package experiments

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// MetricAll marks a policy point that applies every metric at once (the union of their top-Q
// intervals): Jia et al.'s reference thresholds, or one normalised delta for all four.
const MetricAll = "all"

// SummaryRow is one line of the summary table: one proof kind in one env. Every number is
// computed from results.csv rows by Summarize.
type SummaryRow struct {
	Kind   string `json:"kind"`
	Env    string `json:"env"`
	Proofs int    `json:"proofs"`
	// CostFraction and FLOPsPerParam are means over the kind's proofs.
	CostFraction  float64 `json:"cost_fraction"`
	FLOPsPerParam float64 `json:"flops_per_param"`
	// AcceptedRef is the fraction of proofs accepted under all four reference thresholds at
	// once; AcceptedNorm the fraction accepted at normalised delta 0.008 in all four metrics.
	AcceptedRef  float64 `json:"accepted_ref"`
	AcceptedNorm float64 `json:"accepted_norm_0.008"`
	// FirstPass is the smallest normalised delta (summary metric) at which any of the kind's
	// proofs is accepted; AllPass the smallest at which all are. +Inf: never on the grid.
	FirstPass float64 `json:"first_pass_delta"`
	AllPass   float64 `json:"all_pass_delta"`
	// HonestAllPass is the smallest normalised delta at which every honest proof in this env is
	// accepted. A delta separates the kind from honest proofs iff HonestAllPass < FirstPass;
	// Margin is FirstPass / HonestAllPass (> 1 when separable, +Inf when the kind never passes).
	HonestAllPass float64 `json:"honest_all_pass_delta"`
	Separable     bool    `json:"separable"`
	Margin        float64 `json:"margin"`
	// MaxErrNorm is the largest normalised reproduction error (summary metric) over the
	// kind's proofs and checked intervals at every interval checked (Q = 0 if on the grid).
	MaxErrNorm float64 `json:"max_err_norm"`
	// FailedCheck is the most frequent failed check at the reference thresholds ("" if none).
	FailedCheck string `json:"failed_check_ref"`
}

// BreakEven is an attack's measured cost per claimed step relative to honest training, and
// the forged length T'/T at which spoofing costs as much as training honestly.
type BreakEven struct {
	Kind string `json:"kind"`
	// StepCostRatio is mean(cost_fraction / (T'/T)): one forged step in honest steps.
	StepCostRatio float64 `json:"step_cost_ratio"`
	// Fraction is 1/StepCostRatio: spoofing is cheaper while T'/T is below it (Zhang et al.
	// published about 0.032).
	Fraction float64 `json:"break_even_fraction"`
	Steps    float64 `json:"break_even_steps"` // Fraction × T of the targeted honest proofs
}

// Summary is summary.json: the table, the break-even points and the choices behind them.
type Summary struct {
	Experiment string        `json:"experiment"`
	Metric     string        `json:"metric"` // metric of the delta columns
	Q          int           `json:"q"`      // verifier Q the table is computed at (audit 0)
	Rows       []SummaryRow  `json:"rows"`
	BreakEven  []BreakEven   `json:"break_even"`
	DRef       []DRefSummary `json:"d_ref"`
}

// DRefSummary records the calibration reference distances found in the CSV.
type DRefSummary struct {
	Metric string  `json:"metric"`
	DRef   float64 `json:"d_ref"`
}

// summaryMetric picks the metric of the delta columns: l2 when present (Fang et al.'s
// choice), otherwise the first metric in the CSV.
func summaryMetric(rows []Row) string {
	seen := map[string]bool{}
	for i := range rows {
		seen[rows[i].Metric] = true
	}
	for _, m := range []string{"l2", "l1", "linf", "cos"} {
		if seen[m] {
			return m
		}
	}
	return ""
}

// summaryQ is the smallest positive verifier Q in the CSV (the efficient verifier the attacks
// target), or 0 when only full verification was run.
func summaryQ(rows []Row) int {
	q := 0
	for i := range rows {
		if rows[i].Q > 0 && (q == 0 || rows[i].Q < q) {
			q = rows[i].Q
		}
	}
	return q
}

// Summarize computes the summary from results rows alone.
func Summarize(rows []Row) *Summary {
	s := &Summary{Metric: summaryMetric(rows), Q: summaryQ(rows)}
	if len(rows) > 0 {
		s.Experiment = rows[0].Experiment
	}
	// Reproduction errors are read where the most intervals were checked.
	errQ := s.Q
	if slices.ContainsFunc(rows, func(r Row) bool { return r.Q == 0 }) {
		errQ = 0
	}

	type key struct{ kind, env string }
	type proofAgg struct {
		cost      Row // any row of the proof (costs repeat on every row)
		pass      float64
		acceptRef bool
		seenRef   bool
		acceptNrm bool
		seenNrm   bool
		maxErr    float64
		failedRef string
	}
	perProof := map[key]map[string]*proofAgg{}
	dref := map[string]float64{}
	for i := range rows {
		r := &rows[i]
		if r.Metric != MetricAll && !math.IsNaN(r.DRef) {
			dref[r.Metric] = r.DRef
		}
		k := key{r.Kind, r.Env}
		if perProof[k] == nil {
			perProof[k] = map[string]*proofAgg{}
		}
		p := perProof[k][r.ProofID]
		if p == nil {
			p = &proofAgg{cost: *r, pass: math.Inf(1)}
			perProof[k][r.ProofID] = p
		}
		if mi := metricIndex(s.Metric); mi < len(Metrics) && r.Q == errQ {
			if e := r.MaxReproNorm[mi]; !math.IsNaN(e) && e > p.maxErr {
				p.maxErr = e
			}
		}
		if r.Q != s.Q || r.Audit != 0 {
			continue
		}
		switch {
		case r.Metric == s.Metric && r.Normalized:
			if r.Accepted && r.DeltaNorm < p.pass {
				p.pass = r.DeltaNorm
			}
		case r.Metric == MetricAll && !r.Normalized:
			p.seenRef, p.acceptRef = true, r.Accepted
			p.failedRef = r.FailedCheck
		case r.Metric == MetricAll && r.Normalized && r.DeltaNorm == ReferenceNormalizedDelta:
			p.seenNrm, p.acceptNrm = true, r.Accepted
		}
	}

	honestAllPass := map[string]float64{}
	for k, proofs := range perProof {
		if k.kind != KindHonest {
			continue
		}
		h := 0.0
		for _, p := range proofs {
			h = math.Max(h, p.pass)
		}
		honestAllPass[k.env] = h
	}

	for k, proofs := range perProof {
		sr := SummaryRow{Kind: k.kind, Env: k.env, Proofs: len(proofs), FirstPass: math.Inf(1)}
		var nRef, nNrm int
		failed := map[string]int{}
		// Sum in proof-id order: map order would change the last bits of the means.
		ids := make([]string, 0, len(proofs))
		for id := range proofs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			p := proofs[id]
			sr.CostFraction += p.cost.CostFraction
			sr.FLOPsPerParam += p.cost.FLOPsPerParam
			if p.seenRef {
				nRef++
				if p.acceptRef {
					sr.AcceptedRef++
				} else {
					failed[p.failedRef]++
				}
			}
			if p.seenNrm {
				nNrm++
				if p.acceptNrm {
					sr.AcceptedNorm++
				}
			}
			sr.FirstPass = math.Min(sr.FirstPass, p.pass)
			sr.AllPass = math.Max(sr.AllPass, p.pass)
			sr.MaxErrNorm = math.Max(sr.MaxErrNorm, p.maxErr)
		}
		n := float64(len(proofs))
		sr.CostFraction /= n
		sr.FLOPsPerParam /= n
		sr.AcceptedRef = ratio(sr.AcceptedRef, nRef)
		sr.AcceptedNorm = ratio(sr.AcceptedNorm, nNrm)
		sr.FailedCheck = mostFrequent(failed)
		h, ok := honestAllPass[k.env]
		if !ok {
			h = math.NaN()
		}
		sr.HonestAllPass = h
		if k.kind != KindHonest && ok {
			sr.Separable = h < sr.FirstPass
			switch {
			case math.IsInf(sr.FirstPass, 1):
				sr.Margin = math.Inf(1)
			case h > 0 && !math.IsInf(h, 1):
				sr.Margin = sr.FirstPass / h
			default:
				sr.Margin = math.NaN()
			}
		} else {
			sr.Margin = math.NaN()
		}
		s.Rows = append(s.Rows, sr)
	}
	sort.Slice(s.Rows, func(i, j int) bool {
		a, b := s.Rows[i], s.Rows[j]
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		}
		return a.Env < b.Env
	})
	s.BreakEven = breakEvens(rows)
	for _, m := range Metrics {
		if d, ok := dref[m]; ok {
			s.DRef = append(s.DRef, DRefSummary{Metric: m, DRef: d})
		}
	}
	return s
}

func ratio(x float64, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return x / float64(n)
}

func mostFrequent(counts map[string]int) string {
	best, bestN := "", 0
	for k, n := range counts {
		if n > bestN || (n == bestN && k < best) {
			best, bestN = k, n
		}
	}
	return best
}

// breakEvens measures each forgery kind's cost per claimed step over honest training.
func breakEvens(rows []Row) []BreakEven {
	type agg struct {
		sum, steps float64
		n          int
	}
	byKind := map[string]*agg{}
	seen := map[string]bool{}
	for i := range rows {
		r := &rows[i]
		if r.Kind == KindHonest || seen[r.ProofID] || !(r.CostFraction >= 0) || r.TargetSteps <= 0 || r.Steps <= 0 {
			continue
		}
		seen[r.ProofID] = true
		a := byKind[r.Kind]
		if a == nil {
			a = &agg{}
			byKind[r.Kind] = a
		}
		a.sum += r.CostFraction / (float64(r.Steps) / float64(r.TargetSteps))
		a.steps += float64(r.TargetSteps)
		a.n++
	}
	var out []BreakEven
	for kind, a := range byKind {
		ratio := a.sum / float64(a.n)
		be := BreakEven{Kind: kind, StepCostRatio: ratio, Fraction: math.Inf(1), Steps: math.Inf(1)}
		if ratio > 0 {
			be.Fraction = 1 / ratio
			be.Steps = be.Fraction * a.steps / float64(a.n)
		}
		out = append(out, be)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// summaryColumns is the header of summary.csv.
var summaryColumns = []string{
	"kind", "env", "proofs", "cost_fraction", "flops_per_param", "accepted_ref", "accepted_norm_0.008",
	"first_pass_delta", "all_pass_delta", "honest_all_pass_delta", "separable", "margin", "max_err_norm", "failed_check_ref",
}

// CSV renders the summary table as CSV.
func (s *Summary) CSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(summaryColumns) // writes to a bytes.Buffer cannot fail
	for _, r := range s.Rows {
		_ = w.Write([]string{r.Kind, r.Env, strconv.Itoa(r.Proofs), ff(r.CostFraction), ff(r.FLOPsPerParam),
			ff(r.AcceptedRef), ff(r.AcceptedNorm), ff(r.FirstPass), ff(r.AllPass), ff(r.HonestAllPass),
			fb(r.Separable), ff(r.Margin), ff(r.MaxErrNorm), r.FailedCheck})
	}
	w.Flush()
	return buf.Bytes()
}

// Markdown renders the summary table and the break-even points.
func (s *Summary) Markdown() []byte {
	var b strings.Builder
	qs := "every interval"
	if s.Q > 0 {
		qs = fmt.Sprintf("top-%d per epoch", s.Q)
	}
	fmt.Fprintf(&b, "# Summary: %s\n\n", s.Experiment)
	fmt.Fprintf(&b, "Verifier: %s, no random audits. Deltas are normalised by d_ref in %s", qs, s.Metric)
	for _, d := range s.DRef {
		if d.Metric == s.Metric {
			fmt.Fprintf(&b, " (d_ref = %.4g)", d.DRef)
		}
	}
	b.WriteString(". `ref` = accepted under l1 1000, l2 10, linf 0.1, cos 0.01 together; `0.008` = accepted at normalised 0.008 in all four metrics. ")
	b.WriteString("`first pass` = smallest delta accepting any of the kind's proofs; `honest pass` = smallest accepting every honest proof in that env; ")
	b.WriteString("separable iff honest pass < first pass, margin = first pass / honest pass.\n\n")
	b.WriteString("| kind | env | proofs | cost / honest | FLOPs/param | ref | 0.008 | first pass | honest pass | separable | margin | max err | fails at ref |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n")
	for _, r := range s.Rows {
		sep, margin := "", ""
		if r.Kind != KindHonest {
			sep = map[bool]string{true: "yes", false: "no"}[r.Separable]
			margin = fmtNum(r.Margin)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Kind, r.Env, r.Proofs, fmtNum(r.CostFraction), fmtNum(r.FLOPsPerParam), fmtRate(r.AcceptedRef),
			fmtRate(r.AcceptedNorm), fmtNum(r.FirstPass), fmtNum(r.HonestAllPass), sep, margin,
			fmtNum(r.MaxErrNorm), r.FailedCheck)
	}
	if len(s.BreakEven) > 0 {
		b.WriteString("\nBreak-even (spoofing is cheaper than honest training while T'/T is below the fraction; Zhang et al. published about 3.2%):\n\n")
		b.WriteString("| kind | one forged step / one honest step | break-even T'/T | break-even T' |\n|---|---:|---:|---:|\n")
		for _, be := range s.BreakEven {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", be.Kind, fmtNum(be.StepCostRatio), fmtPct(be.Fraction), fmtNum(be.Steps))
		}
	}
	return []byte(b.String())
}

func fmtNum(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case math.IsInf(x, 1):
		return "never"
	case x == 0:
		return "0"
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

func fmtRate(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}

func fmtPct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return fmtNum(x)
	}
	return strconv.FormatFloat(100*x, 'g', 3, 64) + "%"
}
