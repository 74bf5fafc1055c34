package models

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"pollab/autodiff"
	"pollab/internal/registry"
)

// Tensor describes one parameter tensor of a model.
type Tensor struct {
	Name   string // PyTorch state-dict name, e.g. "fc1.weight"
	Shape  []int  // PyTorch layout: linear [out,in], conv [out,in,kh,kw]
	Law    Law    // initialization law
	Tested bool   // whether a verifier KS-tests this tensor at initialization
}

// Size is the number of elements of the tensor.
func (t Tensor) Size() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Model is a network pollab can train, prove and verify. It describes a graph: its Forward
// (autodiff.Net) records any composition of the Builder's ops on the input and the parameter
// nodes (a residual block adds a branch to its shortcut), not only a sequence of layers.
// A model with non-trainable state (BatchNorm running statistics) is a BufferedModel.
type Model interface {
	autodiff.Net
	Spec() string      // canonical spec, e.g. "mlp:784-128-10:relu", "lenet5", "cnn-cifar"
	Tensors() []Tensor // fixed order = flat order
	NumParams() int
}

// layerKind is one step of a sequential network.
type layerKind int

const (
	linear layerKind = iota
	conv
	pool
	relu
	tanh
	flatten
)

type layer struct {
	kind       layerKind
	name       string // parameter prefix ("fc1", "conv2") for linear and conv
	out        int    // output features / channels
	k, pad     int    // conv kernel size and padding; pool size in k
	in         int    // input features / channels, filled by build
	inH, inW   int    // conv input spatial size, filled by build
	outH, out2 int    // conv output spatial size, filled by build (out2 = width)
}

// seqModel is a sequential network of linear/conv/pool/activation layers.
type seqModel struct {
	spec    string
	input   []int
	classes int
	layers  []layer
	tensors []Tensor
	nparams int
	flops   float64
}

func (m *seqModel) Spec() string      { return m.spec }
func (m *seqModel) InputShape() []int { return append([]int(nil), m.input...) }
func (m *seqModel) Classes() int      { return m.classes }
func (m *seqModel) NumParams() int    { return m.nparams }

// FLOPsPerSample counts 2 FLOPs per multiply-add of the linear and conv layers of one
// forward pass; bias adds, activations and pooling are not counted.
func (m *seqModel) FLOPsPerSample() float64 { return m.flops }

// Symbolic2nd is true: every op of every model (linear, pollab's own conv and max-pool,
// ReLU, tanh) differentiates twice.
func (m *seqModel) Symbolic2nd() bool { return true }

func (m *seqModel) Tensors() []Tensor    { return cloneTensors(m.tensors) }
func (m *seqModel) ParamShapes() [][]int { return shapesOf(m.tensors) }

// cloneTensors copies ts deeply (callers must not be able to change a model's shapes).
func cloneTensors(ts []Tensor) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		t.Shape = slices.Clone(t.Shape)
		out[i] = t
	}
	return out
}

// shapesOf returns a copy of each tensor's shape.
func shapesOf(ts []Tensor) [][]int {
	out := make([][]int, len(ts))
	for i, t := range ts {
		out[i] = slices.Clone(t.Shape)
	}
	return out
}

// Forward records the network on b; params are in Tensors() order.
func (m *seqModel) Forward(b *autodiff.Builder, x autodiff.Node, params []autodiff.Node) autodiff.Node {
	p := 0
	for _, l := range m.layers {
		switch l.kind {
		case linear:
			if p+1 >= len(params) {
				return autodiff.Node{}
			}
			x = b.Linear(x, params[p], params[p+1])
			p += 2
		case conv:
			if p+1 >= len(params) {
				return autodiff.Node{}
			}
			x = b.Conv2d(x, params[p], params[p+1], 1, l.pad)
			p += 2
		case pool:
			x = b.MaxPool2d(x, l.k)
		case relu:
			x = b.ReLU(x)
		case tanh:
			x = b.Tanh(x)
		case flatten:
			x = b.Flatten(x)
		}
	}
	return x
}

// build walks the layers from the input shape, filling in sizes, tensors and FLOPs.
func (m *seqModel) build(kaiming bool) error {
	shape := append([]int(nil), m.input...)
	m.tensors, m.nparams, m.flops = nil, 0, 0
	for i := range m.layers {
		l := &m.layers[i]
		switch l.kind {
		case linear:
			if len(shape) != 1 {
				return fmt.Errorf("layer %s: input shape %v is not flat", l.name, shape)
			}
			l.in = shape[0]
			m.addParams(l.name, []int{l.out, l.in}, l.in, kaiming)
			m.flops += 2 * float64(l.in*l.out)
			shape = []int{l.out}
		case conv:
			if len(shape) != 3 {
				return fmt.Errorf("layer %s: input shape %v is not [C,H,W]", l.name, shape)
			}
			l.in, l.inH, l.inW = shape[0], shape[1], shape[2]
			l.outH, l.out2 = l.inH+2*l.pad-l.k+1, l.inW+2*l.pad-l.k+1
			if l.outH < 1 || l.out2 < 1 {
				return fmt.Errorf("layer %s: kernel %d too large for input %v", l.name, l.k, shape)
			}
			m.addParams(l.name, []int{l.out, l.in, l.k, l.k}, l.in*l.k*l.k, kaiming)
			m.flops += 2 * float64(l.out*l.outH*l.out2*l.in*l.k*l.k)
			shape = []int{l.out, l.outH, l.out2}
		case pool:
			if len(shape) != 3 || shape[1] < l.k || shape[2] < l.k {
				return fmt.Errorf("pool %d: input shape %v", l.k, shape)
			}
			shape = []int{shape[0], shape[1] / l.k, shape[2] / l.k}
		case flatten:
			n := 1
			for _, d := range shape {
				n *= d
			}
			shape = []int{n}
		}
	}
	if len(shape) != 1 || shape[0] != m.classes {
		return fmt.Errorf("network output %v, want [%d]", shape, m.classes)
	}
	return nil
}

// addParams appends name.weight and name.bias with PyTorch's default laws
// U(±1/√fan_in) or, with kaiming, N(0, 2/fan_in) weights and zero biases.
func (m *seqModel) addParams(name string, wshape []int, fanIn int, kaiming bool) {
	bound := 1 / math.Sqrt(float64(fanIn))
	wlaw := Law{Kind: Uniform, Low: -bound, High: bound}
	blaw, btested := wlaw, true
	if kaiming {
		wlaw = Law{Kind: Normal, Std: math.Sqrt(2 / float64(fanIn))}
		blaw, btested = Law{Kind: Constant, Value: 0}, false
	}
	w := Tensor{Name: name + ".weight", Shape: wshape, Law: wlaw, Tested: true}
	b := Tensor{Name: name + ".bias", Shape: []int{wshape[0]}, Law: blaw, Tested: btested}
	m.tensors = append(m.tensors, w, b)
	m.nparams += w.Size() + b.Size()
}

// A Constructor builds a model family's model from its spec split at ':' (the family's
// name first, a trailing ":kaiming" removed and passed as kaiming). The model's Spec() must
// be the canonical spec, ":kaiming" included, which Parse maps back to an equal model.
type Constructor func(parts []string, kaiming bool) (Model, error)

// families holds the registered model families (Names: registration order).
var families = registry.New[Constructor]("models")

// Register makes a model family available to Parse by name (a spec's first part), the way
// attacks register themselves. It panics on an empty or taken name.
func Register(name string, c Constructor) {
	if c == nil {
		panic("models: Register of " + name + " without a constructor")
	}
	families.Register(name, c)
}

// Names lists the registered model families in registration order (the lab's own first).
func Names() []string { return families.Names() }

// sequential is the Constructor of a family of layer lists: parse checks the spec and
// returns the layers with the canonical spec, then the parameters are laid out.
func sequential(parse func(parts []string) (*seqModel, error)) Constructor {
	return func(parts []string, kaiming bool) (Model, error) {
		m, err := parse(parts)
		if err != nil {
			return nil, err
		}
		if kaiming {
			m.spec += ":kaiming"
		}
		if err := m.build(kaiming); err != nil {
			return nil, err
		}
		return m, nil
	}
}

func init() {
	Register("mlp", sequential(parseMLP))
	Register("lenet5", sequential(func(parts []string) (*seqModel, error) {
		return fixed(parts, lenet5Layers(), []int{1, 28, 28})
	}))
	Register("cnn-cifar", sequential(func(parts []string) (*seqModel, error) {
		return fixed(parts, cifarLayers(), []int{3, 32, 32})
	}))
}

// Parse builds a model from its spec: a registered family's name and its arguments
// ("mlp:IN-H1-...-OUT:relu|tanh", "lenet5", "cnn-cifar"), optionally followed by ":kaiming".
func Parse(spec string) (Model, error) {
	parts := strings.Split(strings.TrimSpace(spec), ":")
	kaiming := false
	if n := len(parts); n > 1 && parts[n-1] == "kaiming" {
		kaiming = true
		parts = parts[:n-1]
	}
	build, ok := families.Lookup(parts[0])
	if !ok {
		names := Names()
		want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
		if parts[0] == strings.TrimSpace(spec) { // the wrap below already names it
			return nil, fmt.Errorf("model spec %q: unknown model (want %s)", spec, want)
		}
		return nil, fmt.Errorf("model spec %q: unknown model %q (want %s)", spec, parts[0], want)
	}
	m, err := build(parts, kaiming)
	if err != nil {
		return nil, fmt.Errorf("model spec %q: %w", spec, err)
	}
	return m, nil
}

// Limits on MLP specs, so that a hostile spec (a proof's manifest) cannot request absurd
// allocations: widths, depth and total parameters (1<<26 float64 = 512 MiB).
const (
	maxWidth  = 1 << 16
	maxLayers = 64
	maxParams = 1 << 26
)

func parseMLP(parts []string) (*seqModel, error) {
	if len(parts) != 3 {
		return nil, fmt.Errorf("mlp spec needs 3 parts mlp:IN-...-OUT:ACT, got %d", len(parts))
	}
	ws := strings.Split(parts[1], "-")
	if len(ws) < 2 || len(ws) > maxLayers+1 {
		return nil, fmt.Errorf("widths %q: need input, output and at most %d layers", parts[1], maxLayers)
	}
	widths := make([]int, len(ws))
	for i, s := range ws {
		w, err := strconv.Atoi(s)
		if err != nil || w < 1 || w > maxWidth {
			return nil, fmt.Errorf("width %q: want an integer in [1,%d]", s, maxWidth)
		}
		widths[i] = w
		ws[i] = strconv.Itoa(w)
	}
	total := 0
	for i := 1; i < len(widths); i++ {
		total += (widths[i-1] + 1) * widths[i]
	}
	if total > maxParams {
		return nil, fmt.Errorf("widths %q: %d parameters, more than the limit %d", parts[1], total, maxParams)
	}
	parts[1] = strings.Join(ws, "-")
	var act layerKind
	switch parts[2] {
	case "relu":
		act = relu
	case "tanh":
		act = tanh
	default:
		return nil, fmt.Errorf("activation %q: want relu or tanh", parts[2])
	}
	m := &seqModel{spec: strings.Join(parts, ":"), input: []int{widths[0]}, classes: widths[len(widths)-1]}
	for i := 1; i < len(widths); i++ {
		if i > 1 {
			m.layers = append(m.layers, layer{kind: act})
		}
		m.layers = append(m.layers, layer{kind: linear, name: fmt.Sprintf("fc%d", i), out: widths[i]})
	}
	return m, nil
}

func fixed(parts []string, layers []layer, input []int) (*seqModel, error) {
	if len(parts) != 1 {
		return nil, fmt.Errorf("unexpected options %q (only :kaiming is allowed)", strings.Join(parts[1:], ":"))
	}
	return &seqModel{spec: parts[0], input: input, classes: 10, layers: layers}, nil
}

// lenet5Layers: 1×28×28, conv 6@5×5 pad 2, ReLU, maxpool 2, conv 16@5×5, ReLU, maxpool 2,
// fc 400-120-84-10 with ReLU.
func lenet5Layers() []layer {
	return []layer{
		{kind: conv, name: "conv1", out: 6, k: 5, pad: 2}, {kind: relu}, {kind: pool, k: 2},
		{kind: conv, name: "conv2", out: 16, k: 5}, {kind: relu}, {kind: pool, k: 2},
		{kind: flatten},
		{kind: linear, name: "fc1", out: 120}, {kind: relu},
		{kind: linear, name: "fc2", out: 84}, {kind: relu},
		{kind: linear, name: "fc3", out: 10},
	}
}

// cifarLayers: 3×32×32, conv 16@3×3 pad 1, ReLU, maxpool 2, conv 32@3×3 pad 1, ReLU,
// maxpool 2, fc 2048-64-10 with ReLU.
func cifarLayers() []layer {
	return []layer{
		{kind: conv, name: "conv1", out: 16, k: 3, pad: 1}, {kind: relu}, {kind: pool, k: 2},
		{kind: conv, name: "conv2", out: 32, k: 3, pad: 1}, {kind: relu}, {kind: pool, k: 2},
		{kind: flatten},
		{kind: linear, name: "fc1", out: 64}, {kind: relu},
		{kind: linear, name: "fc2", out: 10},
	}
}

// Offsets returns the start of each tensor in the flat vector, followed by the total.
func Offsets(m Model) []int { return offsets(m.Tensors()) }

// Init draws every tensor from its law. Tensor i uses its own PCG stream seeded from
// SHA-256(seed, tensor name), so adding or reordering tensors does not change the others.
func Init(m Model, seed uint64) []float64 {
	ts := m.Tensors()
	off := Offsets(m)
	out := make([]float64, off[len(ts)])
	for i, t := range ts {
		r := rand.New(tensorSource(seed, t.Name))
		for j := off[i]; j < off[i+1]; j++ {
			out[j] = t.Law.Sample(r)
		}
	}
	return out
}

func tensorSource(seed uint64, name string) *rand.PCG {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte("pollab/models.Init/"))
	h.Write([]byte(name))
	sum := h.Sum(nil)
	return rand.NewPCG(binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16]))
}
