package models

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"pollab/autodiff"
)

// resnet is He et al.'s CIFAR ResNet as in the PoL reference model.py: conv3×3 (no bias) →
// BN → ReLU, three stages of n basic blocks (16, 32, 64 planes; stride 2 at the first block of
// stages 2 and 3), each block conv3×3 → BN → ReLU → conv3×3 → BN, plus the shortcut, → ReLU;
// option-A shortcuts (x[:, :, ::2, ::2] zero-padded by planes/4 channels on each side) where
// the shape changes; global average pool; Linear(64, 10). Depth 6n+2.
type resnet struct {
	spec    string
	depth   int
	input   []int
	tensors []Tensor
	buffers []Tensor
	nparams int
	flops   float64
}

// Limits of a resnet spec, so that a hostile spec (a proof's manifest) cannot request
// absurd work or memory: depth (ResNet-1202 is the deepest He et al. trained), input, and
// forward FLOPs per sample (ResNet-20 on 32×32: 8.1e7; ResNet-1202: 4.9e9; activation
// memory grows with them).
const (
	maxResnetDepth  = 1202
	maxResnetInChan = 64
	maxResnetSide   = 512
	maxResnetFLOPs  = 1e10
)

var resnetPlanes = [3]int{16, 32, 64}

func (m *resnet) Spec() string            { return m.spec }
func (m *resnet) InputShape() []int       { return append([]int(nil), m.input...) }
func (m *resnet) Classes() int            { return 10 }
func (m *resnet) NumParams() int          { return m.nparams }
func (m *resnet) Tensors() []Tensor       { return cloneTensors(m.tensors) }
func (m *resnet) ParamShapes() [][]int    { return shapesOf(m.tensors) }
func (m *resnet) Buffers() []Tensor       { return cloneTensors(m.buffers) }
func (m *resnet) BufferShapes() [][]int   { return shapesOf(m.buffers) }
func (m *resnet) FLOPsPerSample() float64 { return m.flops }

// Symbolic2nd is true: conv, BatchNorm (built from differentiable pieces), ReLU, the
// channel pad, the residual add and the average pool all differentiate twice.
func (m *resnet) Symbolic2nd() bool { return true }

// blocks is the number of basic blocks per stage.
func (m *resnet) blocks() int { return (m.depth - 2) / 6 }

// cursor hands out parameter and buffer nodes in flat order, as the layout added them.
type cursor struct {
	b      *autodiff.Builder
	params []autodiff.Node
	p, buf int
}

func (c *cursor) param() autodiff.Node {
	if c.p >= len(c.params) {
		return autodiff.Node{} // the Builder reports the empty operand
	}
	c.p++
	return c.params[c.p-1]
}

// convBN is conv3×3 (no bias, padding 1) then BatchNorm2d in the Builder's mode.
func (c *cursor) convBN(x autodiff.Node, stride int) autodiff.Node {
	y := c.b.Conv2d(x, c.param(), autodiff.Node{}, stride, 1)
	gamma, beta := c.param(), c.param()
	mean, variance := c.b.Buffer(c.buf), c.b.Buffer(c.buf+1)
	c.buf += 2
	return c.b.BatchNorm2d(y, gamma, beta, mean, variance, c.b.Training())
}

// Forward records the network on b; params are in Tensors() order, buffers in Buffers()
// order (read with b.Buffer).
func (m *resnet) Forward(b *autodiff.Builder, x autodiff.Node, params []autodiff.Node) autodiff.Node {
	c := &cursor{b: b, params: params}
	out := b.ReLU(c.convBN(x, 1))
	m.eachBlock(func(_ string, in, planes, stride int) {
		y := b.ReLU(c.convBN(out, stride))
		y = c.convBN(y, 1)
		shortcut := out
		if stride != 1 || in != planes {
			// model.py's LambdaLayer: F.pad(x[:, :, ::2, ::2], (0,0,0,0, planes//4, planes//4))
			shortcut = b.PadChannels(out, 2, planes/4, planes/4)
		}
		out = b.ReLU(b.Add(y, shortcut))
	})
	out = b.Flatten(b.GlobalAvgPool(out))
	return b.Linear(out, c.param(), c.param())
}

// eachBlock calls f for every basic block in order with its state-dict prefix
// ("layer2.0"), input planes, planes and stride (2 entering stages 2 and 3).
func (m *resnet) eachBlock(f func(name string, in, planes, stride int)) {
	in := resnetPlanes[0]
	for s, planes := range resnetPlanes {
		for j := range m.blocks() {
			stride := 1
			if s > 0 && j == 0 {
				stride = 2
			}
			f(fmt.Sprintf("layer%d.%d", s+1, j), in, planes, stride)
			in = planes
		}
	}
}

// layout lays out the tensors (PyTorch names, state-dict order), buffers and FLOPs.
func (m *resnet) layout() {
	C, H, W := m.input[0], m.input[1], m.input[2]
	conv := func(name string, out, in, stride int) {
		fanIn := in * 9
		m.add(Tensor{Name: name + ".weight", Shape: []int{out, in, 3, 3},
			Law: Law{Kind: Normal, Std: math.Sqrt(2 / float64(fanIn))}, Tested: true})
		H, W = (H-1)/stride+1, (W-1)/stride+1 // 3×3, padding 1
		m.flops += 2 * float64(out*H*W*fanIn)
	}
	bn := func(name string, ch int) {
		m.add(Tensor{Name: name + ".weight", Shape: []int{ch}, Law: Law{Kind: Constant, Value: 1}},
			Tensor{Name: name + ".bias", Shape: []int{ch}, Law: Law{Kind: Constant}})
		m.buffers = append(m.buffers,
			Tensor{Name: name + ".running_mean", Shape: []int{ch}, Law: Law{Kind: Constant}},
			Tensor{Name: name + ".running_var", Shape: []int{ch}, Law: Law{Kind: Constant, Value: 1}})
	}
	conv("conv1", resnetPlanes[0], C, 1)
	bn("bn1", resnetPlanes[0])
	m.eachBlock(func(name string, in, planes, stride int) {
		conv(name+".conv1", planes, in, stride)
		bn(name+".bn1", planes)
		conv(name+".conv2", planes, planes, 1)
		bn(name+".bn2", planes)
	})
	// model.py initialises only the weights (kaiming_normal_); the bias keeps nn.Linear's
	// default U(±1/√fan_in) and is not tested, as the reference tests weights only.
	k := resnetPlanes[2]
	bound := 1 / math.Sqrt(float64(k))
	m.add(Tensor{Name: "linear.weight", Shape: []int{10, k}, Law: Law{Kind: Normal, Std: math.Sqrt(2 / float64(k))}, Tested: true},
		Tensor{Name: "linear.bias", Shape: []int{10}, Law: Law{Kind: Uniform, Low: -bound, High: bound}})
	m.flops += 2 * float64(10*k)
}

func (m *resnet) add(ts ...Tensor) {
	for _, t := range ts {
		m.tensors = append(m.tensors, t)
		m.nparams += t.Size()
	}
}

// parseResnet builds "resnet:N[:CxHxW]" (parts after the family name: depth, input).
func parseResnet(depth string, opts []string, kaiming bool) (Model, error) {
	if kaiming {
		return nil, fmt.Errorf("resnet weights are always kaiming-normal: drop :kaiming")
	}
	n, err := strconv.Atoi(depth)
	if err != nil || n < 8 || n > maxResnetDepth || (n-2)%6 != 0 {
		return nil, fmt.Errorf("depth %q: want 6n+2 in [8,%d] (20, 32, 44, 56, 110, ...)", depth, maxResnetDepth)
	}
	m := &resnet{depth: n, input: []int{3, 32, 32}, spec: "resnet:" + strconv.Itoa(n)}
	if len(opts) > 1 {
		return nil, fmt.Errorf("unexpected options %q (want at most an input shape CxHxW)", strings.Join(opts, ":"))
	}
	if len(opts) == 1 {
		if m.input, err = parseInput(opts[0]); err != nil {
			return nil, err
		}
		if !slices.Equal(m.input, []int{3, 32, 32}) {
			m.spec += fmt.Sprintf(":%dx%dx%d", m.input[0], m.input[1], m.input[2])
		}
	}
	m.layout()
	if m.flops > maxResnetFLOPs {
		return nil, fmt.Errorf("%s: %.3g forward FLOPs per sample, more than the limit %.0g", m.spec, m.flops, float64(maxResnetFLOPs))
	}
	return m, nil
}

// parseInput reads an input shape "CxHxW" (channels, height, width; square).
func parseInput(s string) ([]int, error) {
	fs := strings.Split(s, "x")
	limits := []int{maxResnetInChan, maxResnetSide, maxResnetSide}
	if len(fs) != 3 {
		return nil, fmt.Errorf("input %q: want CxHxW, e.g. 1x28x28", s)
	}
	out := make([]int, 3)
	for i, f := range fs {
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 || v > limits[i] {
			return nil, fmt.Errorf("input %q: %q is not an integer in [1,%d]", s, f, limits[i])
		}
		out[i] = v
	}
	if out[1] != out[2] {
		// model.py pools with avg_pool2d(out, out.size()[3]) (kernel 8 on 32×32): the whole
		// map only when it is square
		return nil, fmt.Errorf("input %q: want a square image (H = W)", s)
	}
	return out, nil
}

func init() {
	Register("resnet", func(parts []string, kaiming bool) (Model, error) {
		if len(parts) < 2 {
			return nil, fmt.Errorf("resnet spec needs a depth: resnet:N[:CxHxW], N = 6n+2")
		}
		return parseResnet(parts[1], parts[2:], kaiming)
	})
	Register("resnet20", func(parts []string, kaiming bool) (Model, error) {
		return parseResnet("20", parts[1:], kaiming)
	})
}
