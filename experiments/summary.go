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

	"pollab/verifier"
)

// MetricAll marks a policy point that applies every metric at once (the union of their top-Q
// intervals): Jia et al.'s reference thresholds, or one normalised delta for all four.
const MetricAll = verifier.MetricAll

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
	// FirstPass is the smallest grid delta (normalised, summary metric) at which any of the
	// kind's proofs is accepted; AllPass the smallest at which all are. +Inf: never on the grid.
	FirstPass float64 `json:"first_pass_delta"`
	AllPass   float64 `json:"all_pass_delta"`
	// HonestAllPass is the smallest grid delta at which every honest proof in this env is
	// accepted. The grid columns only bound the exact thresholds below from above.
	HonestAllPass float64 `json:"honest_all_pass_delta"`
	// PassThreshold is the exact delta from which some proof of the kind is accepted: the
	// minimum over its proofs of their threshold (see proofThreshold). HonestThreshold is the
	// exact delta from which every honest proof in this env is accepted: the maximum over
	// them. +Inf: never accepted (a delta-independent check rejects it); NaN: not measured.
	PassThreshold   float64 `json:"pass_threshold"`
	HonestThreshold float64 `json:"honest_threshold"`
	// A delta separates the kind from honest proofs iff HonestThreshold < PassThreshold;
	// Margin is PassThreshold / HonestThreshold (> 1 when separable; +Inf when the kind never
	// passes or honest proofs reproduce exactly while the kind does not; 1 when both are 0).
	Separable bool    `json:"separable"`
	Margin    float64 `json:"margin"`
	// MaxErrNorm is the largest normalised reproduction error (summary metric) over the
	// kind's proofs and the intervals checked at Q = 0 (every interval) when the grid has it,
	// else at the summary's Q. Unlike the thresholds it need not be what top-Q checks.
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
	errQ       int           // the Q MaxErrNorm is read at
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
		seen[rows[i].Metric()] = true
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
	rows = withoutDefences(rows)
	s := &Summary{Metric: summaryMetric(rows), Q: summaryQ(rows)}
	if len(rows) > 0 {
		s.Experiment = rows[0].Experiment
	}
	// Reproduction errors are read where the most intervals were checked.
	errQ := s.Q
	if slices.ContainsFunc(rows, func(r Row) bool { return r.Q == 0 }) {
		errQ = 0
	}
	s.errQ = errQ

	type key struct{ kind, env string }
	type proofAgg struct {
		cost      Row // any row of the proof (costs repeat on every row)
		pass      float64
		threshold proofThreshold
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
		if r.Metric() != MetricAll && !math.IsNaN(r.DRef()) {
			dref[r.Metric()] = r.DRef()
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
		case r.Metric() == s.Metric && r.Normalized():
			if r.Accepted && r.DeltaNorm() < p.pass {
				p.pass = r.DeltaNorm()
			}
			if mi := metricIndex(s.Metric); mi < len(Metrics) {
				p.threshold.add(r, r.MaxReproNorm[mi])
			}
		case r.Metric() == MetricAll && !r.Normalized():
			p.seenRef, p.acceptRef = true, r.Accepted
			p.failedRef = r.FailedCheck
		case r.Metric() == MetricAll && r.Normalized() && r.DeltaNorm() == ReferenceNormalizedDelta:
			p.seenNrm, p.acceptNrm = true, r.Accepted
		}
	}

	honestAllPass, honestThreshold := map[string]float64{}, map[string]float64{}
	for k, proofs := range perProof {
		if k.kind != KindHonest {
			continue
		}
		h, t := 0.0, 0.0
		for _, p := range proofs {
			h = math.Max(h, p.pass)
			t = maxNaN(t, p.threshold.value())
		}
		honestAllPass[k.env], honestThreshold[k.env] = h, t
	}

	for k, proofs := range perProof {
		sr := SummaryRow{Kind: k.kind, Env: k.env, Proofs: len(proofs), FirstPass: math.Inf(1), PassThreshold: math.Inf(1)}
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
			sr.PassThreshold = minNaN(sr.PassThreshold, p.threshold.value())
		}
		n := float64(len(proofs))
		sr.CostFraction /= n
		sr.FLOPsPerParam /= n
		sr.AcceptedRef = ratio(sr.AcceptedRef, nRef)
		sr.AcceptedNorm = ratio(sr.AcceptedNorm, nNrm)
		sr.FailedCheck = mostFrequent(failed)
		sr.HonestAllPass, sr.HonestThreshold, sr.Margin = math.NaN(), math.NaN(), math.NaN()
		if _, ok := honestAllPass[k.env]; ok {
			sr.HonestAllPass, sr.HonestThreshold = honestAllPass[k.env], honestThreshold[k.env]
		}
		if k.kind != KindHonest {
			sr.Separable = sr.HonestThreshold < sr.PassThreshold // false when either is NaN
			sr.Margin = separationMargin(sr.PassThreshold, sr.HonestThreshold)
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

// proofThreshold finds one proof's exact acceptance threshold at the summary policy from
// its rows there (one per grid delta). The top-Q check accepts at delta iff the largest
// re-execution distance over the checked intervals is <= delta, and the intervals checked do
// not depend on delta, so once the other checks pass the proof is accepted exactly from that
// distance on. A rejection that does not depend on delta (init, data, membership, hparams,
// incomplete evidence, or a re-execution failure: rejected although the distance is within
// delta) means the proof is accepted at no delta.
type proofThreshold struct {
	seen, never, accepted bool
	dist                  float64 // max over the rows' distances; NaN: no interval checked
}

func (t *proofThreshold) add(r *Row, dist float64) {
	if !t.seen {
		t.seen, t.dist = true, math.NaN()
	}
	if !math.IsNaN(dist) && !(dist <= t.dist) {
		t.dist = dist
	}
	switch {
	case r.Accepted:
		t.accepted = true
	case verifier.DeltaIndependent(r.FailedCheck) || !(dist > r.DeltaNorm()):
		t.never = true
	}
}

// value is the threshold: +Inf if never accepted, 0 if accepted with no interval checked,
// NaN if the proof has no row at the summary policy.
func (t *proofThreshold) value() float64 {
	switch {
	case !t.seen:
		return math.NaN()
	case t.never:
		return math.Inf(1)
	case math.IsNaN(t.dist):
		if t.accepted {
			return 0
		}
		return math.Inf(1)
	}
	return t.dist
}

// separationMargin is forgery threshold / honest threshold: +Inf when the forgery never
// passes or honest proofs reproduce exactly (0) while it does not, 1 when both are 0 (the
// forgery passes exactly where honest proofs do), NaN when undefined (a threshold missing,
// or honest proofs never pass).
func separationMargin(forgery, honest float64) float64 {
	switch {
	case math.IsNaN(forgery) || math.IsNaN(honest) || math.IsInf(honest, 1):
		return math.NaN()
	case math.IsInf(forgery, 1):
		return math.Inf(1)
	case honest == 0 && forgery == 0:
		return 1
	case honest == 0:
		return math.Inf(1)
	}
	return forgery / honest
}

// minNaN and maxNaN propagate NaN (a proof without a measured threshold makes the kind's
// threshold unknown rather than silently ignoring it).
func minNaN(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Min(a, b)
}

func maxNaN(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Max(a, b)
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
	"first_pass_delta", "all_pass_delta", "honest_all_pass_delta", "pass_threshold", "honest_threshold",
	"separable", "margin", "max_err_norm", "failed_check_ref",
}

// CSV renders the summary table as CSV.
func (s *Summary) CSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(summaryColumns) // writes to a bytes.Buffer cannot fail
	for _, r := range s.Rows {
		_ = w.Write([]string{r.Kind, r.Env, strconv.Itoa(r.Proofs), ff(r.CostFraction), ff(r.FLOPsPerParam),
			ff(r.AcceptedRef), ff(r.AcceptedNorm), ff(r.FirstPass), ff(r.AllPass), ff(r.HonestAllPass),
			ff(r.PassThreshold), ff(r.HonestThreshold), fb(r.Separable), ff(r.Margin), ff(r.MaxErrNorm), r.FailedCheck})
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
	b.WriteString("`first pass` = smallest grid delta accepting any of the kind's proofs; `honest pass` = smallest grid delta accepting every honest proof in that env. ")
	b.WriteString("A proof is accepted exactly from its largest re-execution distance over the checked intervals on (never, if an init/data/membership/hparams check rejects it), so: ")
	b.WriteString("`threshold` = the smallest delta at which any of the kind's proofs passes (the least such distance over its proofs); `honest threshold` = the smallest at which every honest proof in that env passes (the largest). ")
	b.WriteString("separable iff honest threshold < threshold; margin = threshold / honest threshold (`inf`: the kind never passes, or honest proofs reproduce exactly while the kind does not). ")
	fmt.Fprintf(&b, "`max err` = the kind's largest distance over %s.\n\n", maxErrScope(s))
	b.WriteString("| kind | env | proofs | cost / honest | FLOPs/param | ref | 0.008 | first pass | honest pass | threshold | honest threshold | separable | margin | max err | fails at ref |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n")
	for _, r := range s.Rows {
		sep, margin := r.separation()
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Kind, r.Env, r.Proofs, fmtNum(r.CostFraction), fmtNum(r.FLOPsPerParam), fmtRate(r.AcceptedRef),
			fmtRate(r.AcceptedNorm), fmtNum(r.FirstPass), fmtNum(r.HonestAllPass), fmtNum(r.PassThreshold),
			fmtNum(r.HonestThreshold), sep, margin, fmtNum(r.MaxErrNorm), r.FailedCheck)
	}
	if len(s.BreakEven) > 0 {
		b.WriteString("\nBreak-even (spoofing is cheaper than honest training while T'/T is below the fraction; Zhang et al. published about 3.2%):\n\n")
		b.WriteString("| kind | one forged step / one honest step | break-even T'/T | break-even T' |\n|---|---:|---:|---:|\n")
		for _, be := range s.BreakEven {
			frac, steps := fmtPct(be.Fraction), fmtNum(be.Steps)
			if !(be.Fraction < 1) {
				frac, steps = "none (cheaper at every T' <= T)", "-"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", be.Kind, fmtNum(be.StepCostRatio), frac, steps)
		}
	}
	return []byte(b.String())
}

// separation is the row's separable and margin cells ("" for honest rows).
func (r SummaryRow) separation() (sep, margin string) {
	if r.Kind == KindHonest {
		return "", ""
	}
	sep = map[bool]string{true: "yes", false: "no"}[r.Separable]
	margin = fmtNum(r.Margin)
	if math.IsInf(r.Margin, 1) {
		margin = "inf"
	}
	return sep, margin
}

// maxErrScope names the intervals the max err column is taken over.
func maxErrScope(s *Summary) string {
	if s.errQ == 0 {
		return "every interval (Q = 0), not only the top-Q ones"
	}
	return fmt.Sprintf("the top-%d intervals per epoch", s.errQ)
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

// fmtBreakEven states a break-even fraction T'/T: "= X%" while it is below 100%; at or above
// 100% the forgery is cheaper than honest training at every T' <= T, which a percentage
// above 100 would hide.
func fmtBreakEven(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case x >= 1:
		return "none (cheaper than honest training at every T' <= T)"
	}
	return "T'/T = " + fmtPct(x)
}

func fmtPct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return fmtNum(x)
	}
	return strconv.FormatFloat(100*x, 'g', 3, 64) + "%"
}
