package experiments

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"pollab/stats"
	"pollab/verifier"
)

// ColumnDefence is the results.csv column naming the matrix defence a row was decided
// under (a Row.Extra column; empty for the verifier grid's points).
const ColumnDefence = "defence"

// DefenceSpec is one column of the attack × defence matrix, a [[verify.defence]] section: a
// named verifier at its operating point, decided on the same Evidence as the grid. Its
// interval selection is q and audit, its replay check l2 at delta (normalised by d_ref), and
// its other checks are the registered ones configured as the spec's [verify] configures them
// (init_alpha, ...), overridden by its own check.NAME keys, which take the keys of
// [verify.check.NAME] ("check.membership.on = true", "check.hparams.mode =
// \"enforce-manifest\""). A defence is one verifier: a key that sweeps is an error.
type DefenceSpec struct {
	Name string `toml:"name" json:"name"`
	// Q is top-Q per epoch (unset: 1; 0: every interval); Audit the random audits per epoch.
	Q     *int `toml:"q" json:"q,omitempty"`
	Audit int  `toml:"audit" json:"audit,omitempty"`
	// Delta is the threshold in units of d_ref (unset: ReferenceNormalizedDelta; 0: exact
	// replay, the re-execution must land on the checkpoint bit for bit).
	Delta *float64                  `toml:"delta" json:"delta,omitempty"`
	Check map[string]map[string]any `toml:"check" json:"check,omitempty"`
}

func (d DefenceSpec) q() int {
	if d.Q == nil {
		return 1
	}
	return *d.Q
}

// DeltaNorm is the defence's threshold in units of d_ref.
func (d DefenceSpec) DeltaNorm() float64 {
	if d.Delta == nil {
		return ReferenceNormalizedDelta
	}
	return *d.Delta
}

// policy is the verifier the defence stands for.
func (d DefenceSpec) policy(v VerifySpec) (verifier.Policy, error) {
	if _, ok := d.Check[verifier.CheckReplay]; ok {
		return verifier.Policy{}, fmt.Errorf("check.%s: a defence's replay check is its delta", verifier.CheckReplay)
	}
	cfgs, err := v.configsOver("check", d.Check)
	if err != nil {
		return verifier.Policy{}, err
	}
	sel := verifier.Selection{Q: d.q(), Audit: d.Audit, AuditSeed: v.AuditSeed, Metrics: []string{stats.MetricL2}}
	var checks []verifier.Check
	for i, k := range verifier.Kinds() {
		if k.Name == verifier.CheckReplay {
			checks = append(checks, verifier.ReplayCheck{Delta: stats.Distances{L2: d.DeltaNorm()},
				Metrics: []string{stats.MetricL2}, Normalized: true})
			continue
		}
		vs, err := cfgs[i].Variants()
		if err != nil {
			return verifier.Policy{}, fmt.Errorf("check.%s: %w", k.Name, err)
		}
		switch len(vs) {
		case 0: // left out
		case 1:
			checks = append(checks, vs[0].Check)
		default:
			return verifier.Policy{}, fmt.Errorf("check.%s: %d variants: a defence is one verifier (sweep in [verify.check.%s])", k.Name, len(vs), k.Name)
		}
	}
	p := verifier.NewPolicy(sel, checks...)
	return p, p.Validate()
}

// validateDefences checks the [[verify.defence]] sections.
func (v VerifySpec) validateDefences() error {
	seen := map[string]bool{}
	for i, d := range v.Defences {
		switch {
		case d.Name == "":
			return fmt.Errorf("verify.defence[%d]: no name", i)
		case seen[d.Name]:
			return fmt.Errorf("verify.defence %q: named twice", d.Name)
		case d.q() < 0 || d.Audit < 0:
			return fmt.Errorf("verify.defence %q: q %d and audit %d must be >= 0", d.Name, d.q(), d.Audit)
		case !(d.DeltaNorm() >= 0) || math.IsInf(d.DeltaNorm(), 0):
			return fmt.Errorf("verify.defence %q: delta %v: want a finite number >= 0", d.Name, d.DeltaNorm())
		case d.q() == 0 && d.Audit > 0:
			return fmt.Errorf("verify.defence %q: audits need top-Q (q = 0 already re-executes every interval)", d.Name)
		}
		seen[d.Name] = true
		if _, err := d.policy(v); err != nil {
			return fmt.Errorf("verify.defence %q: %w", d.Name, err)
		}
	}
	return nil
}

// defencePoints are the matrix's policy points, one per defence, in spec order, labelled
// in the defence column.
func (r *runner) defencePoints() ([]policyPoint, error) {
	v := r.spec.Verify
	var pts []policyPoint
	for _, d := range v.Defences {
		p, err := d.policy(v)
		if err != nil {
			return nil, fmt.Errorf("verify.defence %q: %w", d.Name, err)
		}
		pts = append(pts, policyPoint{policy: p, labels: []verifier.Label{{Column: ColumnDefence, Value: d.Name}}})
	}
	return pts, nil
}

// defenceOf is the matrix defence a row was decided under ("" for grid points).
func defenceOf(r *Row) string { return r.Extra[ColumnDefence] }

// withoutDefences are the rows of the verifier grid, without the matrix's defence rows (which
// repeat grid points under other checks): what the summary and the grid's figures read.
func withoutDefences(rows []Row) []Row {
	if !slices.ContainsFunc(rows, func(r Row) bool { return defenceOf(&r) != "" }) {
		return rows
	}
	return slices.DeleteFunc(slices.Clone(rows), func(r Row) bool { return defenceOf(&r) != "" })
}

// MatrixCell is one cell of the attack × defence matrix: the proofs of one kind verified in
// one env under one defence.
type MatrixCell struct {
	Kind, Env, Defence string
	Proofs, Accepted   int
	// Cost is the mean over the proofs of cost_fraction: the prover's or attacker's FLOPs
	// over the honest training of the target (1 for honest proofs).
	Cost float64
	// Verifier is the mean over the proofs of the steps the defence re-executed over the
	// honest run's T (target_steps).
	Verifier float64
	// RejectedBy counts the rejected proofs by failing check.
	RejectedBy map[string]int
	// ProofIDs lists the cell's proofs (results.csv's proof_id; their Evidence is in the
	// run's cache, evidence/<proof_id>-<env>-*.json).
	ProofIDs []string
}

// Rate is the accepted share of the cell's proofs: the spoof-accept rate of a forgery kind,
// one minus the false-reject rate of honest proofs.
func (c *MatrixCell) Rate() float64 { return float64(c.Accepted) / float64(c.Proofs) }

// Matrix is the attack × defence matrix of a run, from results.csv's defence rows alone.
type Matrix struct {
	Experiment string
	// Kinds (honest first, then forgeries in CSV order), Envs and Defences (spec order) in
	// the order they are reported.
	Kinds, Envs, Defences []string
	cells                 map[[3]string]*MatrixCell
}

// Cell is the cell of kind, env and defence (nil when the CSV holds none).
func (m *Matrix) Cell(kind, env, defence string) *MatrixCell {
	return m.cells[[3]string{kind, env, defence}]
}

// BuildMatrix computes the matrix from the rows (nil when they hold no defence rows). Each
// proof counts once per cell (honest proofs: only those at the forgeries' target k).
func BuildMatrix(rows []Row) *Matrix {
	m := &Matrix{cells: map[[3]string]*MatrixCell{}}
	targetK := map[int]int{}
	for i := range rows {
		if r := &rows[i]; r.Kind != KindHonest {
			targetK[r.TargetK]++
		}
	}
	k, best := 0, -1
	for kk, n := range targetK {
		if n > best || (n == best && kk < k) {
			k, best = kk, n
		}
	}
	seen := map[[4]string]bool{}
	for i := range rows {
		r := &rows[i]
		d := defenceOf(r)
		if d == "" || (r.Kind == KindHonest && best >= 0 && r.K != k) {
			continue
		}
		m.Experiment = r.Experiment
		if !slices.Contains(m.Kinds, r.Kind) {
			m.Kinds = append(m.Kinds, r.Kind)
		}
		if !slices.Contains(m.Envs, r.Env) {
			m.Envs = append(m.Envs, r.Env)
		}
		if !slices.Contains(m.Defences, d) {
			m.Defences = append(m.Defences, d)
		}
		if seen[[4]string{r.ProofID, r.Env, d}] {
			continue
		}
		seen[[4]string{r.ProofID, r.Env, d}] = true
		key := [3]string{r.Kind, r.Env, d}
		c := m.cells[key]
		if c == nil {
			c = &MatrixCell{Kind: r.Kind, Env: r.Env, Defence: d, RejectedBy: map[string]int{}}
			m.cells[key] = c
		}
		c.Proofs++
		if r.Accepted {
			c.Accepted++
		} else {
			c.RejectedBy[r.FailedCheck]++
		}
		cost := r.CostFraction
		if r.Kind == KindHonest {
			cost = 1
		}
		c.Cost += (cost - c.Cost) / float64(c.Proofs)
		if r.TargetSteps > 0 {
			c.Verifier += (float64(r.ReexecSteps)/float64(r.TargetSteps) - c.Verifier) / float64(c.Proofs)
		}
		c.ProofIDs = append(c.ProofIDs, r.ProofID)
	}
	if len(m.cells) == 0 {
		return nil
	}
	// Honest first, then the forgeries in the order the CSV lists them (kindOrder); env
	// exact first.
	for _, first := range []struct {
		list *[]string
		v    string
	}{{&m.Kinds, KindHonest}, {&m.Envs, "exact"}} {
		if i := slices.Index(*first.list, first.v); i > 0 {
			*first.list = append([]string{first.v}, slices.Delete(*first.list, i, i+1)...)
		}
	}
	return m
}

// Matrix table file names, written beside summary.* when results.csv has defence rows.
const (
	MatrixCSV = "matrix.csv"
	MatrixMD  = "matrix.md"
	MatrixTeX = "matrix.tex"
)

var matrixHeader = []string{"kind", "env", "defence", "proofs", "accepted", "accept_rate", "cost_fraction",
	"verifier_fraction", "rejected_by", "proof_ids"}

// CSV is the matrix as one line per cell (matrixHeader).
func (m *Matrix) CSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(matrixHeader) // writes to a bytes.Buffer cannot fail
	m.each(func(c *MatrixCell) {
		_ = w.Write([]string{c.Kind, c.Env, c.Defence, strconv.Itoa(c.Proofs), strconv.Itoa(c.Accepted), ff(c.Rate()),
			ff(c.Cost), ff(c.Verifier), c.rejectedBy(), strings.Join(c.ProofIDs, " ")})
	})
	w.Flush()
	return buf.Bytes()
}

// each visits the cells env by env, kind by kind, defence by defence.
func (m *Matrix) each(fn func(*MatrixCell)) {
	for _, env := range m.Envs {
		for _, kind := range m.Kinds {
			for _, d := range m.Defences {
				if c := m.Cell(kind, env, d); c != nil {
					fn(c)
				}
			}
		}
	}
}

// rejectedBy lists the failing checks with their counts, most frequent first.
func (c *MatrixCell) rejectedBy() string {
	checks := slices.Collect(maps.Keys(c.RejectedBy))
	slices.SortFunc(checks, func(a, b string) int { return cmp.Or(c.RejectedBy[b]-c.RejectedBy[a], strings.Compare(a, b)) })
	var parts []string
	for _, k := range checks {
		parts = append(parts, fmt.Sprintf("%s:%d", k, c.RejectedBy[k]))
	}
	return strings.Join(parts, " ")
}

// text is a cell as the Markdown and LaTeX tables show it: accepted/proofs, and the check
// that rejected most of the rest.
func (c *MatrixCell) text() string {
	if c == nil {
		return "-"
	}
	s := fmt.Sprintf("%d/%d", c.Accepted, c.Proofs)
	if c.Accepted < c.Proofs {
		s += " " + mostFrequent(c.RejectedBy)
	}
	return s
}

// grid is one env's table: a header and rows of cells (attacks, then the honest
// false-reject row and the verifier's cost).
func (m *Matrix) grid(env string) (header []string, rows [][]string) {
	header = append([]string{"proof kind (cost / honest)"}, m.Defences...)
	for _, kind := range m.Kinds {
		if kind == KindHonest {
			continue
		}
		var cost float64
		row := []string{}
		for _, d := range m.Defences {
			c := m.Cell(kind, env, d)
			if c != nil {
				cost = c.Cost
			}
			row = append(row, c.text())
		}
		rows = append(rows, append([]string{fmt.Sprintf("%s (%s)", kind, fmtNum(cost))}, row...))
	}
	frr := []string{"honest: rejected (false-reject)"}
	ver := []string{"verifier: re-executed steps / T"}
	for _, d := range m.Defences {
		c := m.Cell(KindHonest, env, d)
		if c == nil {
			frr, ver = append(frr, "-"), append(ver, "-")
			continue
		}
		rej := fmt.Sprintf("%d/%d", c.Proofs-c.Accepted, c.Proofs)
		if c.Accepted < c.Proofs {
			rej += " " + mostFrequent(c.RejectedBy)
		}
		frr, ver = append(frr, rej), append(ver, fmtNum(c.Verifier))
	}
	return header, append(rows, frr, ver)
}

// Markdown renders one table per env: forged proofs accepted (spoof-accept) per defence, the
// rejecting check, the attack's cost over honest training, the honest false-reject rate and
// the verifier's cost.
func (m *Matrix) Markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Attack × defence matrix: %s\n\n", m.Experiment)
	b.WriteString("Forged proofs accepted / proofs per defence (and the check that rejected most of the rest), each at its operating point; ")
	b.WriteString("beside each attack its cost over honest training (FLOPs); below, the honest proofs rejected and the steps the verifier re-executed over T. ")
	b.WriteString("Regenerated from results.csv (`pollab figures DIR`); matrix.csv lists every cell's proofs.\n")
	for _, env := range m.Envs {
		header, rows := m.grid(env)
		fmt.Fprintf(&b, "\n## env %s\n\n| %s |\n|---|%s\n", env, strings.Join(header, " | "), strings.Repeat("---:|", len(header)-1))
		for _, r := range rows {
			b.WriteString("| " + strings.Join(r, " | ") + " |\n")
		}
	}
	return []byte(b.String())
}

// LaTeX renders the matrix as one booktabs tabular per env.
func (m *Matrix) LaTeX() []byte {
	var out []byte
	for _, env := range m.Envs {
		header, rows := m.grid(env)
		header[0] = "env " + env + ": " + header[0]
		out = append(out, booktabs("l"+strings.Repeat("r", len(header)-1), header, rows)...)
	}
	return out
}

// writeMatrix writes matrix.{csv,md,tex} into dir when rows have defence rows.
func writeMatrix(dir string, rows []Row) error {
	m := BuildMatrix(rows)
	if m == nil {
		return nil
	}
	for name, b := range map[string][]byte{MatrixCSV: m.CSV(), MatrixMD: m.Markdown(), MatrixTeX: m.LaTeX()} {
		if err := writeFileAtomic(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}
