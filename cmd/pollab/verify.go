package main

import (
	"encoding/json"
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
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "env", Usage: "reproduction environment: exact, dtype, microbatch:M, augment, noise:SIGMA", Value: "exact"},
			&cli.IntFlag{Name: "q", Usage: "intervals per epoch and metric to re-execute (<= 0: all)", Value: 1},
			&cli.StringFlag{Name: "dref", Usage: "calibration file written by pollab calibrate"},
			&cli.BoolFlag{Name: "force-dref", Usage: "use --dref even when it was calibrated under another model, dataset, dtype or optimizer (warns)"},
			&cli.IntFlag{Name: "audit", Usage: "random audit intervals per epoch, drawn after reading the proof"},
			&cli.Uint64Flag{Name: "audit-seed", Usage: "replay an audit draw with this seed (0: the verifier draws a secret nonce)"},
			&cli.StringFlag{Name: "epoch-rule", Usage: "epochs of top-Q: start (interval in epoch floor(start·B/N)) or verify.py (Jia et al.'s round(c·e), c = T/E/k)", Value: stats.EpochRuleStart},
			&cli.IntFlag{Name: "workers", Usage: "parallel re-executions (default: number of CPUs)"},
			&cli.StringFlag{Name: "cache", Usage: "directory of the re-execution cache (a rerun re-executes nothing twice)"},
			&cli.StringFlag{Name: "evidence", Usage: "write the full Evidence as JSON to this file"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		}, checkFlags()...),
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
	Findings        map[string]json.RawMessage `json:"findings,omitempty"` // other checks' (commitment, task, ...)
	TopQ            []int                      `json:"topq_intervals"`
	Audited         []int                      `json:"audited_intervals"`
	MaxRepro        *stats.Distances           `json:"max_repro,omitempty"`
	MaxReproNorm    *stats.Distances           `json:"max_repro_normalized,omitempty"`
	MaxReproBuffers *stats.Distances           `json:"max_repro_buffers,omitempty"` // running statistics; reported, not decided on
	AuditNonce      uint64                     `json:"audit_nonce"`
	ReexecutedSteps int                        `json:"reexecuted_steps"`
	CacheHits       int                        `json:"cache_hits"`
	DRef            *stats.Distances           `json:"dref,omitempty"`
}

// checkFlags are the flags of every registered check's configuration (verifier.Kinds):
// what a check adds to the verifier, it adds to pollab verify.
func checkFlags() []cli.Flag {
	var out []cli.Flag
	for _, cfg := range verifier.Configs() {
		for _, f := range cfg.Flags() {
			if f.Bool {
				out = append(out, &cli.BoolFlag{Name: f.Name, Usage: f.Usage})
			} else {
				out = append(out, &cli.StringFlag{Name: f.Name, Usage: f.Usage, Value: f.Default})
			}
		}
	}
	return out
}

// verifyPolicy turns the flags into a Policy (the selection, and every registered check's
// configuration filled from its flags) and the calibration; errors are usage errors.
func verifyPolicy(c *cli.Context) (verifier.Policy, *verifier.Calibration, error) {
	rule, err := stats.ParseEpochRule(c.String("epoch-rule"))
	if err != nil {
		return verifier.Policy{}, nil, usageError{fmt.Errorf("--epoch-rule: %w", err)}
	}
	if c.Int("audit") < 0 {
		return verifier.Policy{}, nil, usageError{fmt.Errorf("--audit %d: want >= 0", c.Int("audit"))}
	}
	cfgs := verifier.Configs()
	for _, cfg := range cfgs {
		for _, f := range cfg.Flags() {
			if !c.IsSet(f.Name) {
				continue
			}
			v := c.String(f.Name)
			if f.Bool {
				v = fmt.Sprint(c.Bool(f.Name))
			}
			if err := f.Set(v); err != nil {
				return verifier.Policy{}, nil, usageError{fmt.Errorf("--%s: %w", f.Name, err)}
			}
		}
	}
	sel := verifier.Selection{Q: c.Int("q"), Audit: c.Int("audit"), AuditSeed: c.Uint64("audit-seed"), EpochRule: rule}
	pol, err := verifier.PolicyOf(sel, cfgs)
	if err != nil {
		return pol, nil, usageError{err}
	}
	// Top-Q ranks by the metrics the replay check thresholds.
	for _, chk := range pol.Checks {
		if r, ok := chk.(verifier.ReplayCheck); ok {
			pol.Select.Metrics = r.Metrics
		}
	}
	normalized := c.Bool("normalized")
	var cal *verifier.Calibration
	switch {
	case normalized && c.String("dref") == "":
		return pol, nil, usageError{errors.New("verify: --normalized reads thresholds as fractions of d_ref: give the calibration with --dref FILE (written by pollab calibrate)")}
	case c.String("dref") != "":
		if cal, err = verifier.LoadCalibration(c.String("dref")); err != nil {
			return pol, nil, err
		}
	}
	return pol, cal, nil
}

func verifyAction(c *cli.Context) error {
	dir, err := oneArg(c, "verify", "proof directory")
	if err != nil {
		return err
	}
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
			ExpectedFraction: expectedFraction(pol.Select.Q, ev), Ledger: ev.Ledger, WallSeconds: ev.Wall.Seconds(),
		}); err != nil {
			return err
		}
	} else {
		w := humanOut(false)
		printf(w, "proof: %s (%s on %s, %d steps, %d intervals of k=%d)\n", dir, ev.Model, ev.Dataset, ev.Steps, len(ev.Intervals), ev.K)
		seed := "" // without audits the seed draws nothing, so printing it would mislead
		if pol.Select.Audit > 0 {
			seed = fmt.Sprintf(", audit seed %d", v.AuditSeed)
		}
		printf(w, "  policy: %s, metrics %s, env %s%s\n", pol, strings.Join(pol.Select.Metrics, ","), ev.Env, seed)
		if ev.Init.Checked {
			printf(w, "  init: min KS p-value %.4g (%s, %d tensors tested)\n", ev.Init.MinP, ev.Init.Tensor, ev.Init.Tensors)
		}
		printf(w, "  re-executed %d intervals (%d top-Q, %d audited): %d steps, %.4f of training (Q·k/S = %.4f), %d cached\n",
			len(top)+len(audit), len(top), len(audit), ev.NeededSteps, ev.NeededFraction, expectedFraction(pol.Select.Q, ev), ev.CacheHits)
		if s := summarize(ev, top, audit); s.MaxRepro != nil {
			printf(w, "  largest reproduction error: %s\n", *s.MaxRepro)
			if s.MaxReproNorm != nil {
				printf(w, "  as fractions of d_ref:      %s\n", *s.MaxReproNorm)
			}
			if s.MaxReproBuffers != nil {
				printf(w, "  buffers (not decided on):   %s\n", *s.MaxReproBuffers)
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
		Membership: ev.Membership, Hparams: ev.Hparams, Findings: ev.Findings, TopQ: top, Audited: audit,
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
			if r.Buffers != nil {
				if s.MaxReproBuffers == nil {
					s.MaxReproBuffers = &stats.Distances{}
				}
				*s.MaxReproBuffers = s.MaxReproBuffers.Max(*r.Buffers)
			}
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
