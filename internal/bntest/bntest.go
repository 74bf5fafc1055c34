// Package bntest registers "bntest", a tiny model with BatchNorm2d buffers, for the tests of
// model state beyond parameters (running statistics carried through proofs, the prover, the
// verifier and the attacks). It is imported only by _test.go files; the lab's real model with
// buffers is ResNet-20, which goes through the same code.
//
// bntest (input 1×4×4, 4 classes, 216 parameters): conv1 4@3×3 pad 1 without bias, bn1,
// ReLU, conv2 4@3×3 pad 1 without bias, bn2, ReLU, global average pool, fc 4→4. Laws as
// ResNet-20's: kaiming-normal conv and linear weights (KS-tested), BatchNorm weight 1 and bias
// 0, fc.bias U(±1/2) (untested); buffers bn1.running_mean, bn1.running_var, bn2.running_mean,
// bn2.running_var (0 and 1 at initialization).
package bntest

import (
	"fmt"
	"math"
	"strings"

	"pollab/autodiff"
	"pollab/models"
)

// Spec is the model's spec; Dataset a synthetic dataset that fits it.
const (
	Spec    = "bntest"
	Dataset = "synthetic:n=64,test=16,dim=16,classes=4,seed=3"
)

func init() {
	models.Register(Spec, func(parts []string, kaiming bool) (models.Model, error) {
		if len(parts) != 1 || kaiming {
			return nil, fmt.Errorf("bntest takes no options, got %q", strings.Join(parts[1:], ":"))
		}
		return net{}, nil
	})
}

type net struct{}

func normal(fanIn int) models.Law {
	return models.Law{Kind: models.Normal, Std: math.Sqrt(2 / float64(fanIn))}
}

var (
	one  = models.Law{Kind: models.Constant, Value: 1}
	zero = models.Law{Kind: models.Constant, Value: 0}
)

func (net) Spec() string            { return Spec }
func (net) InputShape() []int       { return []int{1, 4, 4} }
func (net) Classes() int            { return 4 }
func (net) FLOPsPerSample() float64 { return 2*4*16*9 + 2*4*16*36 + 2*16 }
func (net) Symbolic2nd() bool       { return true }
func (n net) NumParams() int {
	total := 0
	for _, t := range n.Tensors() {
		total += t.Size()
	}
	return total
}

func (net) Tensors() []models.Tensor {
	return []models.Tensor{
		{Name: "conv1.weight", Shape: []int{4, 1, 3, 3}, Law: normal(9), Tested: true},
		{Name: "bn1.weight", Shape: []int{4}, Law: one},
		{Name: "bn1.bias", Shape: []int{4}, Law: zero},
		{Name: "conv2.weight", Shape: []int{4, 4, 3, 3}, Law: normal(36), Tested: true},
		{Name: "bn2.weight", Shape: []int{4}, Law: one},
		{Name: "bn2.bias", Shape: []int{4}, Law: zero},
		{Name: "fc.weight", Shape: []int{4, 4}, Law: normal(4), Tested: true},
		{Name: "fc.bias", Shape: []int{4}, Law: models.Law{Kind: models.Uniform, Low: -0.5, High: 0.5}},
	}
}

func (n net) ParamShapes() [][]int { return shapes(n.Tensors()) }

func (net) Buffers() []models.Tensor {
	return []models.Tensor{
		{Name: "bn1.running_mean", Shape: []int{4}, Law: zero},
		{Name: "bn1.running_var", Shape: []int{4}, Law: one},
		{Name: "bn2.running_mean", Shape: []int{4}, Law: zero},
		{Name: "bn2.running_var", Shape: []int{4}, Law: one},
	}
}

func (n net) BufferShapes() [][]int { return shapes(n.Buffers()) }

func shapes(ts []models.Tensor) [][]int {
	out := make([][]int, len(ts))
	for i, t := range ts {
		out[i] = append([]int(nil), t.Shape...)
	}
	return out
}

func (net) Forward(b *autodiff.Builder, x autodiff.Node, p []autodiff.Node) autodiff.Node {
	if len(p) != 8 {
		return autodiff.Node{}
	}
	y := b.Conv2d(x, p[0], autodiff.Node{}, 1, 1)
	y = b.ReLU(b.BatchNorm2d(y, p[1], p[2], b.Buffer(0), b.Buffer(1), b.Training()))
	y = b.Conv2d(y, p[3], autodiff.Node{}, 1, 1)
	y = b.ReLU(b.BatchNorm2d(y, p[4], p[5], b.Buffer(2), b.Buffer(3), b.Training()))
	return b.Linear(b.Flatten(b.GlobalAvgPool(y)), p[6], p[7])
}
