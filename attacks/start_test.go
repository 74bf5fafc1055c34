package attacks_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pollab/attacks"
	_ "pollab/attacks/all"
	"pollab/autodiff"
	"pollab/internal/attacktest"
	"pollab/models"
	"pollab/proof"
	"pollab/prover"
	"pollab/stats"
	"pollab/verifier"
)

// The three starts of a spoofer's line. InitSmall copies the small tensors (here the
// 12-value hidden bias and the 10-value output bias) from W_T, scaled as little as the KS
// test allows, so W0 is closer to W_T than the rank-matched draw and still passes the KS
// check under min-p and Holm; InitCommitted is exactly the honest prover's W0 of the seed.
func TestStartLine(t *testing.T) {
	cfg := prover.Config{Model: "mlp:16-12-10:relu", Dataset: "synthetic:n=256,test=64,dim=16,classes=10,seed=3",
		DType: autodiff.Float32, Hyper: proof.Hyper{LR: 0.2}, Batch: 16, Epochs: 8, K: 16, Seed: 3}
	tg := attacktest.Target(t, cfg)
	m := tg.Model
	forged, err := tg.StartLine(attacks.InitForged, 9, stats.DefaultInitAlpha, autodiff.NewLedger())
	if err != nil {
		t.Fatal(err)
	}
	ledger := autodiff.NewLedger()
	small, err := tg.StartLine(attacks.InitSmall, 9, stats.DefaultInitAlpha, ledger)
	if err != nil {
		t.Fatal(err)
	}
	if ledger.Cost().Other <= 0 {
		t.Error("the small-tensor search was not recorded")
	}
	off := models.Offsets(m)
	copied := 0
	for i, ts := range m.Tensors() {
		lo, hi := off[i], off[i+1]
		note := small.Notes["small_tensor:"+ts.Name]
		if hi-lo > attacks.SmallTensorMax {
			if note != "" || !slices.Equal(small.W0[lo:hi], forged.W0[lo:hi]) {
				t.Errorf("%s (%d values) is not small but was changed (%q)", ts.Name, hi-lo, note)
			}
			continue
		}
		var c, p float64
		if _, err := fmt.Sscanf(note, "scale %g of W_T, KS p %g", &c, &p); err != nil {
			t.Logf("%s: %s", ts.Name, note)
			continue
		}
		copied++
		for j := lo; j < hi; j++ {
			want := float64(c * tg.Final[j])
			if small.W0[j] != float64(float32(want)) {
				t.Fatalf("%s[%d] = %g, want %g x W_T = %g", ts.Name, j-lo, small.W0[j], c, want)
			}
		}
		t.Logf("%s (%d values): %s", ts.Name, hi-lo, note)
	}
	if copied == 0 {
		t.Fatal("no small tensor was copied from W_T")
	}
	dForged, dSmall := stats.Distance(forged.W0, tg.Final).L2, stats.Distance(small.W0, tg.Final).L2
	if !(dSmall < dForged) {
		t.Errorf("|W0 - W_T|: small %g, forged %g", dSmall, dForged)
	}
	// The verifier's init check (Decide checks init first; the rest of this Evidence is
	// empty, so a W0 that passes ends at the next check, data).
	ev := &verifier.Evidence{Init: verifier.InitKS(m, small.W0)}
	for _, corr := range []string{verifier.InitMinP, verifier.InitHolm} {
		pol := verifier.NewPolicy(verifier.Selection{}, verifier.InitCheck{Alpha: stats.DefaultInitAlpha, Correction: corr}, verifier.DataCheck{})
		if v := pol.Decide(ev); v.Check == verifier.CheckInit {
			t.Errorf("%s rejects the small-init W0: %s", corr, v.Reason)
		}
	}
	if v := verifier.DefaultPolicy().Decide(&verifier.Evidence{Init: verifier.InitKS(m, tg.Final)}); v.Check != verifier.CheckInit {
		t.Errorf("the init check does not reject W_T itself (%+v): it cannot tell", v)
	}
	committed, err := tg.StartLine(attacks.InitCommitted, 9, stats.DefaultInitAlpha, autodiff.NewLedger())
	if err != nil {
		t.Fatal(err)
	}
	honest := models.Init(m, attacks.CommittedInitSeed(9))
	tg.DType.Round(honest)
	if !slices.Equal(committed.W0, honest) {
		t.Error("the committed W0 is not the honest init of the seed")
	}
	t.Logf("|W0 - W_T| l2: forged %.4g, small %.4g, committed %.4g", dForged, dSmall, stats.Distance(committed.W0, tg.Final).L2)
	if _, err := tg.StartLine("nope", 9, 0.01, nil); err == nil {
		t.Error("an unknown init mode was accepted")
	}
}

// Every registered attack takes the init option (zhang also points); a value outside the
// listed ones is a configuration error (the CLI's exit 2), a listed one is accepted.
func TestInitAndPointsOptions(t *testing.T) {
	set := func(cfg attacks.Config, name, v string) error {
		for _, f := range cfg.Flags() {
			if f.Name == name {
				return f.Value.Set(v)
			}
		}
		return fmt.Errorf("no flag --%s", name)
	}
	for _, name := range []string{"infinitesimal", "blindfold", "zhang"} {
		k, err := attacks.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		opts := map[string][]string{"init": attacks.InitModes}
		if name == "zhang" {
			opts["points"] = []string{"crafted", "real"}
		}
		for opt, good := range opts {
			for _, v := range good {
				cfg := k.NewConfig()
				if err := set(cfg, opt, v); err != nil {
					t.Fatal(err)
				}
				if err := cfg.Validate(); err != nil {
					t.Errorf("%s --%s %s: %v", name, opt, v, err)
				}
			}
			cfg := k.NewConfig()
			if err := set(cfg, opt, "imagined"); err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), opt) {
				t.Errorf("%s --%s imagined: %v, want an error naming %s", name, opt, err, opt)
			}
		}
	}
}
