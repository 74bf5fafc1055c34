package models

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// ksTest is a two-sided one-sample Kolmogorov-Smirnov test of xs against cdf, returning the
// statistic D and the asymptotic p-value (Stephens' small-sample correction of √n).
func ksTest(xs []float64, cdf func(float64) float64) (d, p float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := float64(len(s))
	for i, x := range s {
		f := cdf(x)
		d = math.Max(d, math.Max(f-float64(i)/n, float64(i+1)/n-f))
	}
	sq := math.Sqrt(n)
	return d, kolmogorovQ((sq + 0.12 + 0.11/sq) * d)
}

// kolmogorovQ is P(K > λ) for the Kolmogorov distribution: 2 Σ (-1)^(k-1) exp(-2k²λ²).
func kolmogorovQ(lambda float64) float64 {
	if lambda < 0.2 {
		return 1
	}
	var sum float64
	for k := 1; k <= 100; k++ {
		term := 2 * math.Exp(-2*float64(k*k)*lambda*lambda)
		if k%2 == 0 {
			term = -term
		}
		sum += term
		if math.Abs(term) < 1e-16 {
			break
		}
	}
	return math.Min(math.Max(sum, 0), 1)
}

func TestKSHelper(t *testing.T) {
	// Sanity of the helper itself: uniform samples pass against U[0,1], shifted ones fail.
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 2000)
	for i := range xs {
		xs[i] = r.Float64()
	}
	u := Law{Kind: Uniform, Low: 0, High: 1}
	if _, p := ksTest(xs, u.CDF); p < 0.01 {
		t.Errorf("uniform sample rejected, p = %v", p)
	}
	for i := range xs {
		xs[i] += 0.1
	}
	if _, p := ksTest(xs, u.CDF); p > 1e-6 {
		t.Errorf("shifted sample accepted, p = %v", p)
	}
	if q := kolmogorovQ(1.36); math.Abs(q-0.05) > 0.002 {
		t.Errorf("Q(1.36) = %v, want about 0.05", q)
	}
}

var allSpecs = []string{"mlp:784-128-10:relu", "mlp:20-7-7-3:tanh", "lenet5", "cnn-cifar",
	"mlp:784-128-10:relu:kaiming", "lenet5:kaiming", "cnn-cifar:kaiming"}

func TestInitPassesKSAndScaledFails(t *testing.T) {
	for _, spec := range allSpecs {
		m, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		w := Init(m, 42)
		off := Offsets(m)
		for i, ts := range m.Tensors() {
			vals := w[off[i]:off[i+1]]
			if !ts.Tested {
				if ts.Law.Kind == Constant {
					for _, v := range vals {
						if v != ts.Law.Value {
							t.Fatalf("%s %s: %v, want constant %v", spec, ts.Name, v, ts.Law.Value)
						}
					}
				}
				continue
			}
			if _, p := ksTest(vals, ts.Law.CDF); p < 0.01 {
				t.Errorf("%s %s (%d values): KS p = %.3g < 0.01", spec, ts.Name, len(vals), p)
			}
			// Too few values cannot tell a factor of 2 apart at this level.
			if len(vals) < 100 {
				continue
			}
			scaled := make([]float64, len(vals))
			for j, v := range vals {
				scaled[j] = 2 * v
			}
			if _, p := ksTest(scaled, ts.Law.CDF); p >= 0.01 {
				t.Errorf("%s %s scaled by 2: KS p = %.3g, want < 0.01", spec, ts.Name, p)
			}
		}
	}
}

func TestLawsArePyTorchDefaults(t *testing.T) {
	m, _ := Parse("lenet5")
	fanIn := map[string]int{"conv1": 25, "conv2": 150, "fc1": 400, "fc2": 120, "fc3": 84}
	for _, ts := range m.Tensors() {
		layer, _, _ := strings.Cut(ts.Name, ".")
		b := 1 / math.Sqrt(float64(fanIn[layer]))
		if ts.Law != (Law{Kind: Uniform, Low: -b, High: b}) || !ts.Tested {
			t.Errorf("%s: law %+v tested %v, want U(±%v)", ts.Name, ts.Law, ts.Tested, b)
		}
	}
	k, _ := Parse("mlp:784-128-10:relu:kaiming")
	ts := k.Tensors()
	if ts[0].Law != (Law{Kind: Normal, Std: math.Sqrt(2.0 / 784)}) || !ts[0].Tested {
		t.Errorf("kaiming fc1.weight: %+v", ts[0])
	}
	if ts[1].Law != (Law{Kind: Constant}) || ts[1].Tested {
		t.Errorf("kaiming fc1.bias: %+v", ts[1])
	}
}

func TestLawCDF(t *testing.T) {
	u := Law{Kind: Uniform, Low: -1, High: 3}
	n := Law{Kind: Normal, Std: 2}
	c := Law{Kind: Constant, Value: 0.5}
	cases := []struct {
		l    Law
		x, f float64
	}{
		{u, -2, 0}, {u, 1, 0.5}, {u, 4, 1}, {n, 0, 0.5}, {n, 2, 0.8413447460685429},
		{c, 0.4, 0}, {c, 0.5, 1},
	}
	for _, tc := range cases {
		if got := tc.l.CDF(tc.x); math.Abs(got-tc.f) > 1e-12 {
			t.Errorf("%+v CDF(%v) = %v, want %v", tc.l, tc.x, got, tc.f)
		}
	}
}

func TestSpecsShapesAndCounts(t *testing.T) {
	cases := []struct {
		spec, canon string
		params      int
		flops       float64
		input       []int
		symbolic    bool
		names       string
	}{
		{"mlp:784-128-10:relu", "mlp:784-128-10:relu", 784*128 + 128 + 128*10 + 10, 2 * (784*128 + 128*10), []int{784}, true,
			"fc1.weight fc1.bias fc2.weight fc2.bias"},
		{" mlp:0784-64-32-10:tanh:kaiming", "mlp:784-64-32-10:tanh:kaiming", 784*64 + 64 + 64*32 + 32 + 32*10 + 10, 2 * (784*64 + 64*32 + 32*10), []int{784}, true,
			"fc1.weight fc1.bias fc2.weight fc2.bias fc3.weight fc3.bias"},
		// conv1 6·1·25+6, conv2 16·6·25+16, fc 400·120+120, 120·84+84, 84·10+10
		{"lenet5", "lenet5", 156 + 2416 + 48120 + 10164 + 850,
			2*(6*28*28*25+16*10*10*150) + 2*(400*120+120*84+84*10), []int{1, 28, 28}, true,
			"conv1.weight conv1.bias conv2.weight conv2.bias fc1.weight fc1.bias fc2.weight fc2.bias fc3.weight fc3.bias"},
		// conv1 16·3·9+16, conv2 32·16·9+32, fc 2048·64+64, 64·10+10
		{"cnn-cifar", "cnn-cifar", 448 + 4640 + 131136 + 650,
			2*(16*32*32*27+32*16*16*144) + 2*(2048*64+64*10), []int{3, 32, 32}, true,
			"conv1.weight conv1.bias conv2.weight conv2.bias fc1.weight fc1.bias fc2.weight fc2.bias"},
	}
	for _, tc := range cases {
		m, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		if m.Spec() != tc.canon {
			t.Errorf("%q: Spec() = %q, want %q", tc.spec, m.Spec(), tc.canon)
		}
		again, err := Parse(m.Spec())
		if err != nil || again.Spec() != m.Spec() {
			t.Errorf("%q: canonical spec does not round-trip: %v", tc.spec, err)
		}
		if m.NumParams() != tc.params {
			t.Errorf("%q: %d params, want %d", tc.spec, m.NumParams(), tc.params)
		}
		if m.FLOPsPerSample() != tc.flops {
			t.Errorf("%q: %v FLOPs, want %v", tc.spec, m.FLOPsPerSample(), tc.flops)
		}
		if !slices.Equal(m.InputShape(), tc.input) || m.Classes() != 10 || m.Symbolic2nd() != tc.symbolic {
			t.Errorf("%q: input %v classes %d symbolic %v", tc.spec, m.InputShape(), m.Classes(), m.Symbolic2nd())
		}
		var names []string
		for _, ts := range m.Tensors() {
			names = append(names, ts.Name)
		}
		if strings.Join(names, " ") != tc.names {
			t.Errorf("%q: tensors %v", tc.spec, names)
		}
		off := Offsets(m)
		shapes := m.ParamShapes()
		if off[len(off)-1] != m.NumParams() || len(shapes) != len(names) {
			t.Errorf("%q: offsets %v, %d shapes", tc.spec, off, len(shapes))
		}
		for i, s := range shapes {
			n := 1
			for _, d := range s {
				n *= d
			}
			if off[i+1]-off[i] != n {
				t.Errorf("%q: tensor %d has %d elements, offsets say %d", tc.spec, i, n, off[i+1]-off[i])
			}
		}
	}
	m, _ := Parse("lenet5")
	if s := m.ParamShapes()[2]; !slices.Equal(s, []int{16, 6, 5, 5}) {
		t.Errorf("conv2.weight shape %v, want PyTorch [16 6 5 5]", s)
	}
	m.ParamShapes()[0][0] = 99 // callers must not be able to corrupt the model
	if m.Tensors()[0].Shape[0] != 6 {
		t.Error("ParamShapes exposes internal state")
	}
}

func TestParseErrorsNameTheBadPart(t *testing.T) {
	cases := map[string]string{
		"":                         "unknown model",
		"resnet18":                 "resnet18",
		"mlp":                      "3 parts",
		"mlp:784-x-10:relu":        `"x"`,
		"mlp:784-0-10:relu":        `"0"`,
		"mlp:784:relu":             "need input, output",
		"mlp:784-10:gelu":          "gelu",
		"mlp:784-10:relu:dropout":  "3 parts",
		"lenet5:wide":              "wide",
		"cnn-cifar:kaiming:extra":  "extra",
		"mlp:784-99999999-10:relu": "99999999",
		"mlp:65536-65536-10:relu":  "limit",
		"mlp:784-" + strings.Repeat("8-", 70) + "10:relu": "at most",
	}
	for spec, part := range cases {
		_, err := Parse(spec)
		if err == nil {
			t.Errorf("Parse(%q): no error", spec)
			continue
		}
		if !strings.Contains(err.Error(), part) {
			t.Errorf("Parse(%q) = %q, does not name %q", spec, err, part)
		}
	}
}

func TestInitSeeding(t *testing.T) {
	m, _ := Parse("mlp:784-128-10:relu")
	a, b, c := Init(m, 1), Init(m, 1), Init(m, 2)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different parameters")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same parameters")
	}
	// Per-tensor streams: a deeper MLP shares fc1 with the shallow one.
	deep, _ := Parse("mlp:784-128-64-10:relu")
	d := Init(deep, 1)
	n := 784 * 128
	if !slices.Equal(a[:n], d[:n]) {
		t.Error("adding a layer changed fc1.weight")
	}
	if slices.Equal(a[:128], a[n:n+128]) {
		t.Error("weight and bias streams coincide")
	}
}
