package verifier

import (
	"encoding/json"
	"math"
	"testing"

	"pollab/stats"
)

// Flag and env strings reach the verifier from the command line: parsing never panics, and
// whatever parses round-trips through its canonical form.
func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{"exact", "dtype", "microbatch:4", "augment", "noise:1e-3", "dtype+microbatch:2+augment+noise:0.5", "noise:", "+", "microbatch:99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEnv(s)
		if err != nil {
			return
		}
		back, err := ParseEnv(e.String())
		if err != nil || back != e {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, e, e.String(), back, err)
		}
	})
}

func FuzzParseDelta(f *testing.F) {
	for _, s := range []string{"l1=1000,l2=10,linf=0.1,cos=0.01", "0.008", "l2=", "=1", "l2=1e400", "cos=-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDelta(s, stats.ReferenceDelta)
		if err != nil {
			return
		}
		for _, m := range stats.Metrics {
			v, _ := d.Get(m)
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("%q parsed to %s = %g", s, m, v)
			}
		}
		back, err := ParseDelta(FormatDelta(d, nil), stats.Distances{})
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %v, %v", s, d, back, err)
		}
	})
}

// A task file is user input: parsing never panics, and an accepted task is valid and
// survives a JSON round trip unchanged.
func FuzzParseTask(f *testing.F) {
	f.Add([]byte("model = \"mlp:8-6-3:relu\"\ndataset = \"synthetic\"\ndtype = \"f32\"\nbatch = 16\nepochs = 1\nsteps = 6\nlr = 0.1\n"), true)
	f.Add([]byte(`{"model":"lenet5","dataset":"mnist","dtype":"f64","batch":64,"epochs":2,"steps":1874,"lr":0.01,"momentum":0.9,"milestones":[100],"gamma":0.1,"nonce":"n"}`), false)
	f.Add([]byte(`{"model":"lenet5","steps":-1}`), false)
	f.Add([]byte("lr = nan\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, isTOML bool) {
		task, err := ParseTask(b, isTOML)
		if err != nil {
			return
		}
		if err := task.Validate(); err != nil {
			t.Fatalf("accepted an invalid task: %v", err)
		}
		enc, err := json.Marshal(task)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseTask(enc, false)
		if err != nil || back.differs(*task) != "" || task.differs(*back) != "" {
			t.Fatalf("task %+v does not survive JSON: %+v, %v", task, back, err)
		}
	})
}
