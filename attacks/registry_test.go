package attacks_test

import (
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"pollab/attacks"
	_ "pollab/attacks/all"
	"pollab/attacks/zhang"
)

// An Opt tells "left out" from zero in every source: TOML, flags and JSON.
func TestOptUnsetIsNotZero(t *testing.T) {
	var p struct {
		Lambda attacks.Opt[float64] `toml:"lambda" json:"lambda,omitzero"`
		Iters  attacks.Opt[int]     `toml:"iters" json:"iters,omitzero"`
		Large  attacks.Opt[bool]    `toml:"large" json:"large,omitzero"`
	}
	if _, err := toml.Decode("lambda = 0\n", &p); err != nil {
		t.Fatal(err)
	}
	if !p.Lambda.Given || p.Lambda.Value != 0 || p.Lambda.Or(1) != 0 || p.Iters.Given || p.Iters.Or(10) != 10 {
		t.Fatalf("lambda = 0 decoded as %+v, iters left out as %+v", p.Lambda, p.Iters)
	}
	if b, _ := json.Marshal(p); string(b) != `{"lambda":0}` {
		t.Errorf("JSON %s, want only the given lambda", b)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(&p.Iters, "iters", "")
	fs.Var(&p.Large, "large", "")
	if err := fs.Parse([]string{"--iters", "0", "--large"}); err != nil {
		t.Fatal(err)
	}
	if !p.Iters.Given || p.Iters.Value != 0 || !p.Large.Value {
		t.Errorf("flags: iters %+v, large %+v", p.Iters, p.Large)
	}
	if _, err := toml.Decode("iters = 1.5\n", &p); err == nil {
		t.Error("a float accepted for an integer option")
	}
}

// A spec's lambda = 0 reaches Zhang et al.'s attack as a zero penalty, not as "the variant's
// default" (the old 0-means-default config could not express it).
func TestZhangLambdaZeroIsExpressible(t *testing.T) {
	k, err := attacks.Lookup("zhang")
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]float64{"variant = \"III\"\nlambda = 0\n": 0, "variant = \"III\"\n": -1} {
		cfg := k.NewConfig()
		if _, err := toml.Decode(src, cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		atk, err := cfg.New(attacks.Forgery{})
		if err != nil {
			t.Fatal(err)
		}
		if got := atk.(*zhang.Attack).Config.Lambda; got != want {
			t.Errorf("%q: lambda %v, want %v (negative: the variant's default)", src, got, want)
		}
		if cfg.Label() != "zhang-III" {
			t.Errorf("label %q", cfg.Label())
		}
	}
}

func TestRegistry(t *testing.T) {
	names := strings.Join(attacks.Names(), ",")
	for _, want := range []string{"blindfold", "infinitesimal", "zhang"} {
		if !strings.Contains(names, want) {
			t.Errorf("registered %s, missing %s", names, want)
		}
	}
	if _, err := attacks.Lookup("magic"); err == nil || !strings.Contains(err.Error(), "zhang") {
		t.Errorf("unknown kind: %v (want an error listing the kinds)", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering zhang twice did not panic")
		}
	}()
	attacks.Register(attacks.Kind{Name: "zhang", NewConfig: func() attacks.Config { return nil }})
}
