package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"pollab/autodiff"
	"pollab/internal/atomicfile"
	"pollab/proof"
	"pollab/stats"
	"pollab/verifier"
)

func init() {
	register(&cli.Command{
		Name:      "verify",
		Usage:     "verify a Proof-of-Learning (Jia et al.'s Algorithm 2) under a reproduction environment",
		UsageText: "pollab verify DIR [--env NAME] [--q Q] [--metrics l1,l2,linf,cos] [--delta l2=V,...] [--normalized --dref FILE] [--audit R] [--json] [--evidence FILE]",
		Description: "Checks W0 against the model's init laws (KS), every batch hash against the declared dataset,\n" +
			"optionally payload membership and the manifest's lr schedule, then re-executes the top-Q\n" +
			"intervals per epoch (by update magnitude, union over the chosen metrics) plus R random audits\n" +
			"and compares with the proof's checkpoints. Exit 0: accepted; 1: rejected; 2: bad input.\n" +
			"Envs: exact, dtype, microbatch:M, augment, noise:SIGMA (combine with '+').",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "env", Usage: "reproduction environment: exact, dtype, microbatch:M, augment, noise:SIGMA", Value: "exact"},
			&cli.IntFlag{Name: "q", Usage: "intervals per epoch and metric to re-execute (<= 0: all)", Value: 1},
			&cli.StringFlag{Name: "metrics", Usage: "metrics to rank and threshold", Value: strings.Join(stats.Metrics, ",")},
			&cli.StringFlag{Name: "delta", Usage: "thresholds metric=value,... or one value for all (default: reference l1=1000,l2=10,linf=0.1,cos=0.01; with --normalized 0.008)"},
			&cli.BoolFlag{Name: "normalized", Usage: "read --delta as fractions of d_ref (needs --dref)"},
			&cli.StringFlag{Name: "dref", Usage: "calibration file written by pollab calibrate"},
			&cli.BoolFlag{Name: "force-dref", Usage: "use --dref even when it was calibrated under another model, dataset, dtype or optimizer (warns)"},
			&cli.IntFlag{Name: "audit", Usage: "random audit intervals per epoch, drawn after reading the proof"},
			&cli.Uint64Flag{Name: "audit-seed", Usage: "replay an audit draw with this seed (0: the verifier draws a secret nonce)"},
			&cli.StringFlag{Name: "hparams", Usage: "trust-checkpoint (reference) or enforce-manifest", Value: verifier.HparamsTrustCheckpoint},
			&cli.StringFlag{Name: "epoch-rule", Usage: "epochs of top-Q: start (interval in epoch floor(start·B/N)) or verify.py (Jia et al.'s round(c·e), c = T/E/k)", Value: stats.EpochRuleStart},
			&cli.BoolFlag{Name: "membership", Usage: "reject payload points that are not in the declared dataset"},
			&cli.StringFlag{Name: "init-correction", Usage: "combine W0's per-tensor KS p-values: min-p (reference: smallest p < alpha) or holm (family-wise error <= alpha)", Value: verifier.InitMinP},
			&cli.Float64Flag{Name: "init-alpha", Usage: "KS threshold for W0 (negative: skip the init check)", Value: stats.DefaultInitAlpha},
			&cli.IntFlag{Name: "workers", Usage: "parallel re-executions (default: number of CPUs)"},
			&cli.StringFlag{Name: "cache", Usage: "directory of the re-execution cache (a rerun re-executes nothing twice)"},
			&cli.StringFlag{Name: "evidence", Usage: "write the full Evidence as JSON to this file"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		},
		Action: verifyAction,
	})
}

// verifyReport is the --json document of pollab verify.
type verifyReport struct {
	Dir      string           `json:"dir"`
	Verdict  verifier.Verdict `json:"verdict"`
	Env      string           `json:"env"`
	Policy   verifier.Policy  `json:"policy"`
	Evidence evidenceSummary  `json:"evidence"`
	// Re-executed steps over the proof's steps, this run (cache hits excluded) and needed.
	ReexecutedFraction float64 `json:"reexecuted_fraction"`
	NeededFraction     float64 `json:"needed_fraction"`
	// ExpectedFraction is Q·k/S, the cost of top-Q for one metric (1 when Q <= 0).
	ExpectedFraction float64       `json:"expected_fraction"`
	Ledger           autodiff.Cost `json:"ledger"`
	WallSeconds      float64       `json:"wall_s"`
}

// evidenceSummary is the Evidence without its per-interval table.
type evidenceSummary struct {
	Manifest        string                     `json:"manifest_sha256"`
	Model           string                     `json:"model"`
	Dataset         string                     `json:"dataset"`
	Steps           int                        `json:"steps"`
	K               int                        `json:"k"`
	StepsPerEpoch   float64                    `json:"steps_per_epoch"`
	Intervals       int                        `json:"intervals"`
	Init            verifier.InitFinding       `json:"init"`
	Data            verifier.DataFinding       `json:"data"`
	Membership      verifier.MembershipFinding `json:"membership"`
	Hparams         verifier.HparamsFinding    `json:"hparams"`
	TopQ            []int                      `json:"topq_intervals"`
	Audited         []int                      `json:"audited_intervals"`
	MaxRepro        *stats.Distances           `json:"max_repro,omitempty"`
	MaxReproNorm    *stats.Distances           `json:"max_repro_normalized,omitempty"`
	AuditNonce      uint64                     `json:"audit_nonce"`
	ReexecutedSteps int                        `json:"reexecuted_steps"`
	CacheHits       int                        `json:"cache_hits"`
	DRef            *stats.Distances           `json:"dref,omitempty"`
}

// verifyPolicy turns the flags into a Policy and the calibration; errors are usage errors.
func verifyPolicy(c *cli.Context) (verifier.Policy, *verifier.Calibration, error) {
	var pol verifier.Policy
	metrics, err := verifier.ParseMetrics(c.String("metrics"))
	if err != nil {
		return pol, nil, usageError{fmt.Errorf("--metrics: %w", err)}
	}
	hp, err := verifier.ParseHparams(c.String("hparams"))
	if err != nil {
		return pol, nil, usageError{fmt.Errorf("--hparams: %w", err)}
	}
	correction, err := verifier.ParseInitCorrection(c.String("init-correction"))
	if err != nil {
		return pol, nil, usageError{fmt.Errorf("--init-correction: %w", err)}
	}
	rule, err := stats.ParseEpochRule(c.String("epoch-rule"))
	if err != nil {
		return pol, nil, usageError{fmt.Errorf("--epoch-rule: %w", err)}
	}
	normalized := c.Bool("normalized")
	base := stats.ReferenceDelta
	if normalized {
		d := stats.ReferenceNormalizedDelta
		base = stats.Uniform(d)
	}
	delta, err := verifier.ParseDelta(c.String("delta"), base)
	if err != nil {
		return pol, nil, usageError{fmt.Errorf("--delta: %w", err)}
	}
	var cal *verifier.Calibration
	switch {
	case normalized && c.String("dref") == "":
		return pol, nil, usageError{errors.New("verify: --normalized reads thresholds as fractions of d_ref: give the calibration with --dref FILE (written by pollab calibrate)")}
	case c.String("dref") != "":
		if cal, err = verifier.LoadCalibration(c.String("dref")); err != nil {
			return pol, nil, err
		}
	}
	if c.Int("audit") < 0 {
		return pol, nil, usageError{fmt.Errorf("--audit %d: want >= 0", c.Int("audit"))}
	}
	alpha := c.Float64("init-alpha")
	if alpha == 0 {
		alpha = -1 // an explicit 0 means "never reject on init", as any negative value does
	}
	pol = verifier.Policy{
		Delta: delta, Metrics: metrics, Normalized: normalized, Q: c.Int("q"), Audit: c.Int("audit"),
		AuditSeed: c.Uint64("audit-seed"), InitAlpha: alpha, Membership: c.Bool("membership"), Hparams: hp,
		EpochRule: rule, InitCorrection: correction,
	}
	if err := pol.Validate(); err != nil {
		return pol, nil, usageError{err}
	}
	return pol, cal, nil
}

func verifyAction(c *cli.Context) error {
	if c.Args().Len() != 1 {
		return usageError{fmt.Errorf("verify: want exactly one proof directory, got %d arguments", c.Args().Len())}
	}
	dir := c.Args().First()
	pol, cal, err := verifyPolicy(c)
	if err != nil {
		return err
	}
	env, err := verifier.ParseEnv(c.String("env"))
	if err != nil {
		return usageError{fmt.Errorf("--env: %w", err)}
	}
	workers := c.Int("workers")
	if workers < 0 {
		return usageError{fmt.Errorf("--workers %d: want >= 0", workers)}
	}
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	p, err := proof.Open(dir)
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	m := p.Manifest()
	if note := buildNote(p); note != "" {
		fmt.Fprintln(os.Stderr, note)
	}
	if cal != nil {
		if err := cal.CheckSetup(m); err != nil {
			if !c.Bool("force-dref") {
				return fmt.Errorf("verify: --dref %s: %w (--force-dref to use it anyway)", c.String("dref"), err)
			}
			fmt.Fprintf(os.Stderr, "pollab: warning: --force-dref: %v\n", err)
		}
	}

	ctx, stop := interruptible()
	defer stop()
	bar := newPhaseBar("", c.Bool("quiet") || c.Bool("json")) // one bar per phase, named by its note
	opt := verifier.Options{Workers: workers, CacheDir: c.String("cache"), Progress: bar.Update}
	if cal != nil {
		opt.DRef = &cal.DRef
	}
	ev, err := verifier.Gather(ctx, p, env, []verifier.Policy{pol}, opt)
	bar.Done()
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	v := pol.Decide(ev)
	if path := c.String("evidence"); path != "" {
		if err := writeEvidence(path, ev, v); err != nil {
			return err
		}
	}
	if v.Check == verifier.CheckIncomplete {
		return fmt.Errorf("verify %s: %s", dir, v.Reason)
	}
	top, audit := pol.Selection(ev)
	if c.Bool("json") {
		if err := printJSON(verifyReport{
			Dir: dir, Verdict: v, Env: ev.Env, Policy: pol,
			Evidence:           summarize(ev, top, audit),
			ReexecutedFraction: ev.ReexecutedFraction, NeededFraction: ev.NeededFraction,
			ExpectedFraction: expectedFraction(pol.Q, ev), Ledger: ev.Ledger, WallSeconds: ev.Wall.Seconds(),
		}); err != nil {
			return err
		}
	} else {
		w := humanOut(false)
		printf(w, "proof: %s (%s on %s, %d steps, %d intervals of k=%d)\n", dir, ev.Model, ev.Dataset, ev.Steps, len(ev.Intervals), ev.K)
		seed := "" // without audits the seed draws nothing, so printing it would mislead
		if pol.Audit > 0 {
			seed = fmt.Sprintf(", audit seed %d", v.AuditSeed)
		}
		printf(w, "  policy: %s, metrics %s, env %s%s\n", pol, strings.Join(pol.Metrics, ","), ev.Env, seed)
		printf(w, "  init: min KS p-value %.4g (%s, %d tensors tested)\n", ev.Init.MinP, ev.Init.Tensor, ev.Init.Tensors)
		printf(w, "  re-executed %d intervals (%d top-Q, %d audited): %d steps, %.4f of training (Q·k/S = %.4f), %d cached\n",
			len(top)+len(audit), len(top), len(audit), ev.NeededSteps, ev.NeededFraction, expectedFraction(pol.Q, ev), ev.CacheHits)
		if s := summarize(ev, top, audit); s.MaxRepro != nil {
			printf(w, "  largest reproduction error: %s\n", *s.MaxRepro)
			if s.MaxReproNorm != nil {
				printf(w, "  as fractions of d_ref:      %s\n", *s.MaxReproNorm)
			}
		}
		printLedger(w, ev.Ledger)
		printf(w, "  wall time: %s\n", ev.Wall.Round(time.Millisecond))
		if v.Accepted {
			printf(w, "accepted\n")
		}
	}
	if !v.Accepted {
		where := ""
		if v.Interval >= 0 {
			where = fmt.Sprintf(" at interval %d", v.Interval)
		}
		return rejectedError{fmt.Sprintf("%s check failed%s: %s", v.Check, where, v.Reason)}
	}
	return nil
}

// expectedFraction is Q·k/S, the share of training that top-Q re-executes for one metric.
func expectedFraction(q int, ev *verifier.Evidence) float64 {
	if q <= 0 || ev.StepsPerEpoch <= 0 {
		return 1
	}
	return math.Min(1, float64(q)*float64(ev.K)/ev.StepsPerEpoch)
}

func summarize(ev *verifier.Evidence, top, audit []int) evidenceSummary {
	s := evidenceSummary{
		Manifest: ev.Manifest, Model: ev.Model, Dataset: ev.Dataset, Steps: ev.Steps, K: ev.K,
		StepsPerEpoch: ev.StepsPerEpoch, Intervals: len(ev.Intervals), Init: ev.Init, Data: ev.Data,
		Membership: ev.Membership, Hparams: ev.Hparams, TopQ: top, Audited: audit,
		AuditNonce: ev.AuditNonce, ReexecutedSteps: ev.ReexecutedSteps, CacheHits: ev.CacheHits, DRef: ev.DRef,
	}
	if s.TopQ == nil {
		s.TopQ = []int{}
	}
	if s.Audited == nil {
		s.Audited = []int{}
	}
	for _, iv := range ev.Intervals {
		for _, r := range iv.Repro {
			if s.MaxRepro == nil {
				s.MaxRepro = &stats.Distances{}
			}
			*s.MaxRepro = s.MaxRepro.Max(r.Raw)
			if r.Normalized != nil {
				if s.MaxReproNorm == nil {
					s.MaxReproNorm = &stats.Distances{}
				}
				*s.MaxReproNorm = s.MaxReproNorm.Max(*r.Normalized)
			}
		}
	}
	return s
}

// writeEvidence writes the Evidence and the Verdict as one JSON file, atomically.
func writeEvidence(path string, ev *verifier.Evidence, v verifier.Verdict) error {
	err := atomicfile.WriteJSON(path, struct {
		Verdict  verifier.Verdict   `json:"verdict"`
		Evidence *verifier.Evidence `json:"evidence"`
	}{v, ev})
	if err != nil {
		return fmt.Errorf("evidence %s: %w", path, err)
	}
	return nil
}

// buildNote is one line when the proof records a build other than this binary's (another
// engine semantics, BLAS, architecture or Go version), empty otherwise.
func buildNote(p *proof.Proof) string {
	prov, ok := p.Provenance()
	if !ok || prov.Build == nil {
		return ""
	}
	own := autodiff.ThisBuild()
	if *prov.Build == own {
		return ""
	}
	what := "results are designed to be identical"
	if !prov.Build.SameResults(own) {
		what = "exact replay may differ"
	}
	return fmt.Sprintf("pollab: note: proof built by %s, verifying with %s (%s)", prov.Build, own, what)
}
