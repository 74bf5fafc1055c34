package models

import (
	"slices"
	"strings"
	"testing"
)

// TestResnetLayout: ResNet-20 has the reference's 269,722 parameters (432+32 stem, stages
// 14,016 / 51,072 / 203,520, linear 650), PyTorch's state-dict names in state-dict order,
// 19 BatchNorm layers (1,376 running statistics) and about 40.6 M multiply-adds per sample.
func TestResnetLayout(t *testing.T) {
	m, err := Parse("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	if m.NumParams() != 269722 {
		t.Errorf("resnet20: %d parameters, want 269,722", m.NumParams())
	}
	if m.Spec() != "resnet:20" || !slices.Equal(m.InputShape(), []int{3, 32, 32}) || m.Classes() != 10 {
		t.Errorf("resnet20: spec %q input %v classes %d", m.Spec(), m.InputShape(), m.Classes())
	}
	stage := map[string]int{}
	for _, ts := range m.Tensors() {
		key, _, _ := strings.Cut(ts.Name, ".")
		stage[key] += ts.Size()
	}
	want := map[string]int{"conv1": 432, "bn1": 32, "layer1": 14016, "layer2": 51072, "layer3": 203520, "linear": 650}
	for k, v := range want {
		if stage[k] != v {
			t.Errorf("%s: %d parameters, want %d", k, stage[k], v)
		}
	}
	var names []string
	for _, ts := range m.Tensors()[:9] {
		names = append(names, ts.Name)
	}
	if got := strings.Join(names, " "); got != "conv1.weight bn1.weight bn1.bias layer1.0.conv1.weight layer1.0.bn1.weight "+
		"layer1.0.bn1.bias layer1.0.conv2.weight layer1.0.bn2.weight layer1.0.bn2.bias" {
		t.Errorf("first tensors: %s", got)
	}
	ts := m.Tensors()
	if last := ts[len(ts)-2]; last.Name != "linear.weight" || !slices.Equal(last.Shape, []int{10, 64}) {
		t.Errorf("tensor %d: %s %v", len(ts)-2, last.Name, last.Shape)
	}
	bm := m.(BufferedModel)
	bufs := bm.Buffers()
	if len(bufs) != 2*19 || BufferOffsets(m)[len(bufs)] != 1376 {
		t.Errorf("%d buffer tensors, %d values, want 38 and 1,376", len(bufs), BufferOffsets(m)[len(bufs)])
	}
	if bufs[0].Name != "bn1.running_mean" || bufs[3].Name != "layer1.0.bn1.running_var" || bufs[37].Name != "layer3.2.bn2.running_var" {
		t.Errorf("buffers %s, %s, %s", bufs[0].Name, bufs[3].Name, bufs[37].Name)
	}
	if f := m.FLOPsPerSample(); f != 2*40551040 {
		t.Errorf("FLOPs per sample %v, want 2 × 40,551,040", f)
	}
}

// TestResnetLaws: conv and linear weights kaiming-normal N(0, 2/fan_in) and KS-tested;
// BatchNorm weight 1, bias 0 and the linear bias (nn.Linear's default U(±1/8)) untested.
func TestResnetLaws(t *testing.T) {
	m, _ := Parse("resnet20")
	for _, ts := range m.Tensors() {
		isWeight := strings.HasSuffix(ts.Name, ".weight") && (strings.Contains(ts.Name, "conv") || ts.Name == "linear.weight")
		if ts.Tested != isWeight {
			t.Errorf("%s: Tested %v", ts.Name, ts.Tested)
		}
		if isWeight {
			fanIn := ts.Size() / ts.Shape[0]
			if ts.Law.Kind != Normal || ts.Law.Std*ts.Law.Std*float64(fanIn) < 2-1e-12 || ts.Law.Std*ts.Law.Std*float64(fanIn) > 2+1e-12 {
				t.Errorf("%s: law %+v, want N(0, 2/%d)", ts.Name, ts.Law, fanIn)
			}
		}
	}
	ts := m.Tensors()
	if ts[1].Law != (Law{Kind: Constant, Value: 1}) || ts[2].Law != (Law{Kind: Constant}) {
		t.Errorf("bn1: %+v %+v", ts[1].Law, ts[2].Law)
	}
	if b := ts[len(ts)-1]; b.Law != (Law{Kind: Uniform, Low: -0.125, High: 0.125}) {
		t.Errorf("linear.bias: %+v", b.Law)
	}
	// Init draws every tested tensor from its law (KS p >= 0.01) and a twice larger one
	// fails; the untested ones are their constants or the linear bias's uniform law.
	w := Init(m, 9)
	woff := Offsets(m)
	for i, ts := range m.Tensors() {
		vals := w[woff[i]:woff[i+1]]
		if ts.Law.Kind == Constant {
			if slices.ContainsFunc(vals, func(v float64) bool { return v != ts.Law.Value }) {
				t.Errorf("%s: not the constant %v", ts.Name, ts.Law.Value)
			}
			continue
		}
		if _, p := ksTest(vals, ts.Law.CDF); p < 0.01 {
			t.Errorf("%s: KS p = %.3g against its own law", ts.Name, p)
		}
		if !ts.Tested || len(vals) < 1000 {
			continue
		}
		scaled := slices.Clone(vals)
		for j := range scaled {
			scaled[j] *= 2
		}
		if _, p := ksTest(scaled, ts.Law.CDF); p >= 0.01 {
			t.Errorf("%s scaled by 2: KS p = %.3g, want < 0.01", ts.Name, p)
		}
	}
	buf := InitBuffers(m)
	off := BufferOffsets(m)
	for i, b := range m.(BufferedModel).Buffers() {
		want := 0.0
		if strings.HasSuffix(b.Name, ".running_var") {
			want = 1
		}
		for _, v := range buf[off[i]:off[i+1]] {
			if v != want || b.Tested {
				t.Fatalf("%s: initial %v, want %v, untested", b.Name, v, want)
			}
		}
	}
}

// TestResnetSpecs: depths 6n+2, the input option, canonical specs that round-trip, and
// bad specs named in the error.
func TestResnetSpecs(t *testing.T) {
	cases := []struct {
		spec, canon string
		params      int
		input       []int
	}{
		{"resnet20", "resnet:20", 269722, []int{3, 32, 32}},
		{"resnet:20", "resnet:20", 269722, []int{3, 32, 32}},
		{"resnet:20:3x32x32", "resnet:20", 269722, []int{3, 32, 32}},
		{"resnet20:1x28x28", "resnet:20:1x28x28", 269722 - 2*16*9, []int{1, 28, 28}},
		// He et al.'s table: 0.46 M, 0.66 M, 0.85 M, 19.4 M
		{"resnet:32", "resnet:32", 464154, []int{3, 32, 32}},
		{"resnet:44", "resnet:44", 658586, []int{3, 32, 32}},
		{"resnet:56", "resnet:56", 853018, []int{3, 32, 32}},
		{"resnet:1202", "resnet:1202", 19421274, []int{3, 32, 32}},
		{"resnet:8:01x09x9", "resnet:8:1x9x9", 0, []int{1, 9, 9}},
	}
	for _, tc := range cases {
		m, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		if m.Spec() != tc.canon || !slices.Equal(m.InputShape(), tc.input) || (tc.params > 0 && m.NumParams() != tc.params) {
			t.Errorf("%q: spec %q input %v params %d", tc.spec, m.Spec(), m.InputShape(), m.NumParams())
		}
		again, err := Parse(m.Spec())
		if err != nil || again.Spec() != m.Spec() || again.NumParams() != m.NumParams() {
			t.Errorf("%q: canonical spec does not round-trip: %v", tc.spec, err)
		}
	}
	bad := map[string]string{
		"resnet":              "needs a depth",
		"resnet:21":           `"21"`,
		"resnet:2":            `"2"`,
		"resnet:x":            `"x"`,
		"resnet:1208":         `"1208"`,
		"resnet20:kaiming":    "kaiming",
		"resnet:20:1x28":      "CxHxW",
		"resnet:20:0x28x28":   `"0"`,
		"resnet:20:1x28x9999": `"9999"`,
		"resnet20:1x28x28:b":  "unexpected",
		"resnet:8:1x8x9":      "square",
		"resnet:1202:3x64x64": "limit",
		"resnet20:3x512x512":  "limit",
	}
	for spec, part := range bad {
		if _, err := Parse(spec); err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("Parse(%q) = %v, want an error naming %s", spec, err, part)
		}
	}
}
