package experiments

import (
	"encoding/json"
	"math"
	"os"
	"time"

	"pollab/internal/buildinfo"
	"pollab/stats"
)

// Provenance is provenance.json: what produced a results directory, and on what.
type Provenance struct {
	buildinfo.Header
	Spec     *Spec    `json:"spec"`
	SpecHash string   `json:"spec_hash"`
	Seeds    []uint64 `json:"seeds"`
	buildinfo.Span
	Ledger RunLedger `json:"ledger"`
	// DRef is the calibration per model: the distance between the final weights of the
	// honest proofs of Spec.Verify.CalibrationSeeds.
	DRef map[string]stats.Distances `json:"d_ref"`
	// Reruns are the later runs of the same spec into the same directory (resumed or fully
	// cached), appended: the fields above stay the first run's record.
	Reruns []RunRecord `json:"reruns,omitempty"`
}

// RunRecord is one later run of a spec: who ran it, when, and what it computed.
type RunRecord struct {
	buildinfo.Version
	Command []string `json:"command,omitempty"`
	buildinfo.Span
	Ledger RunLedger `json:"ledger"`
}

// record is p as a RunRecord.
func (p *Provenance) record() RunRecord {
	return RunRecord{Version: p.Version, Command: p.Command, Span: p.Span, Ledger: p.Ledger}
}

// appendRun returns what provenance.json should hold after run p: p itself, or, when dir
// already holds the provenance of the same spec, that first record with p appended to its
// reruns (a rerun must not replace the original record with its own, mostly cached, ledger).
func appendRun(path string, p *Provenance) *Provenance {
	var prev Provenance
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &prev) != nil || prev.SpecHash != p.SpecHash {
		return p
	}
	prev.Reruns = append(prev.Reruns, p.record())
	return &prev
}

// Machine describes the host.
type Machine = buildinfo.Machine

func newProvenance(spec *Spec, opt Options, start time.Time, rep *Report, dref map[string]stats.Distances) *Provenance {
	return &Provenance{
		Header: buildinfo.NewHeader(opt.Version, opt.Command), Spec: spec, SpecHash: spec.Hash(), Seeds: spec.Seeds,
		Span: buildinfo.NewSpan(start, time.Now()), Ledger: rep.Ledger, DRef: dref,
	}
}

// jnum makes a float JSON-safe: NaN becomes null and ±Inf the strings "inf"/"-inf".
func jnum(x float64) any {
	switch {
	case math.IsNaN(x):
		return nil
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	return x
}

// JSONValue renders the summary with non-finite numbers encoded by jnum.
func (s *Summary) JSONValue() map[string]any {
	var rows []map[string]any
	for _, r := range s.Rows {
		rows = append(rows, map[string]any{
			"kind": r.Kind, "env": r.Env, "proofs": r.Proofs,
			"cost_fraction": jnum(r.CostFraction), "flops_per_param": jnum(r.FLOPsPerParam),
			"accepted_ref": jnum(r.AcceptedRef), "accepted_norm_0.008": jnum(r.AcceptedNorm),
			"first_pass_delta": jnum(r.FirstPass), "all_pass_delta": jnum(r.AllPass),
			"honest_all_pass_delta": jnum(r.HonestAllPass), "pass_threshold": jnum(r.PassThreshold),
			"honest_threshold": jnum(r.HonestThreshold), "separable": r.Separable, "margin": jnum(r.Margin),
			"max_err_norm": jnum(r.MaxErrNorm), "failed_check_ref": r.FailedCheck,
		})
	}
	var be []map[string]any
	for _, b := range s.BreakEven {
		be = append(be, map[string]any{"kind": b.Kind, "step_cost_ratio": jnum(b.StepCostRatio),
			"break_even_fraction": jnum(b.Fraction), "break_even_steps": jnum(b.Steps)})
	}
	var dref []map[string]any
	for _, d := range s.DRef {
		dref = append(dref, map[string]any{"metric": d.Metric, "d_ref": jnum(d.DRef)})
	}
	return map[string]any{"experiment": s.Experiment, "metric": s.Metric, "q": s.Q,
		"published_break_even_fraction": PublishedBreakEven, "rows": rows, "break_even": be, "d_ref": dref}
}
