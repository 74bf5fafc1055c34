package verifier

import (
	"math"
	"testing"

	"pollab/stats"
)

func TestParseDeltaAndMetrics(t *testing.T) {
	d, err := ParseDelta("l1=1000,l2=10,linf=0.1,cos=0.01", stats.Distances{})
	if err != nil || d != stats.ReferenceDelta {
		t.Fatalf("reference delta: %v %v", d, err)
	}
	d, err = ParseDelta("l2=0.5", stats.ReferenceDelta)
	if err != nil || d.L2 != 0.5 || d.L1 != 1000 {
		t.Errorf("partial delta: %v %v", d, err)
	}
	if d, err := ParseDelta("0.008", stats.ReferenceDelta); err != nil || d != stats.Uniform(0.008) {
		t.Errorf("bare delta: %v %v", d, err)
	}
	if got, err := ParseDelta(FormatDelta(stats.ReferenceDelta, nil), stats.Distances{}); err != nil || got != stats.ReferenceDelta {
		t.Errorf("format round trip: %v %v", got, err)
	}
	for _, bad := range []string{"l3=1", "l2", "l2=-1", "l2=NaN", "l2=1,l2=2", "l2=inf", "l2=x"} {
		if _, err := ParseDelta(bad, stats.ReferenceDelta); err == nil {
			t.Errorf("ParseDelta(%q) accepted", bad)
		}
	}
	m, err := ParseMetrics("cos,l2,cos")
	if err != nil || len(m) != 2 || m[0] != "l2" || m[1] != "cos" {
		t.Errorf("metrics: %v %v", m, err)
	}
	if _, err := ParseMetrics("l2,euclid"); err == nil {
		t.Error("unknown metric accepted")
	}
}

func TestParseEnvRoundTrip(t *testing.T) {
	cases := map[string]Env{
		"exact":                   {},
		"dtype":                   {FlipDType: true},
		"microbatch:4":            {Microbatches: 4},
		"augment":                 {OwnAugment: true},
		"noise:1e-06":             {Noise: 1e-6},
		"dtype+microbatch:8":      {FlipDType: true, Microbatches: 8},
		"microbatch:2+noise:0.01": {Microbatches: 2, Noise: 0.01},
	}
	for s, want := range cases {
		e, err := ParseEnv(s)
		if err != nil {
			t.Errorf("ParseEnv(%q): %v", s, err)
			continue
		}
		want.Name = s
		if e != want {
			t.Errorf("ParseEnv(%q) = %+v, want %+v", s, e, want)
		}
		if e.String() != s {
			t.Errorf("String() = %q, want %q", e.String(), s)
		}
		back, _ := ParseEnv(e.String())
		if back != e {
			t.Errorf("round trip of %q: %+v", s, back)
		}
	}
	if e, _ := ParseEnv("noise:1e-6"); e.String() != "noise:1e-06" {
		t.Errorf("noise canonical form: %q", e.String())
	}
	for _, bad := range []string{"gpu", "microbatch", "microbatch:1", "microbatch:x", "noise:0", "noise:-1", "noise:NaN", "dtype:2", "exact+dtype", "dtype+dtype"} {
		if _, err := ParseEnv(bad); err == nil {
			t.Errorf("ParseEnv(%q) accepted", bad)
		}
	}
}

func nan() float64 { return math.NaN() }

func TestCalibrationRoundTrip(t *testing.T) {
	path := t.TempDir() + "/dref.json"
	c := &Calibration{Model: "mlp:4-2:relu", Dataset: "synthetic", Seeds: [2]uint64{1, 2}, DRef: stats.Distances{L1: 3, L2: 2, Linf: 1, Cos: 0.5}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadCalibration(path)
	if err != nil || back.DRef != c.DRef || back.Seeds != c.Seeds || back.Model != c.Model {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	c.DRef.Cos = 0
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCalibration(path); err == nil {
		t.Error("a zero d_ref was accepted")
	}
}
