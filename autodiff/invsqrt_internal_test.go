package autodiff

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
)

// TestGorgoniaInverseSqrtGradientIsWrong pins why BatchNorm2d uses Sqrt and HadamardDiv: in
// gorgonia v0.9.18, the gradient through InverseSqrt(v + ε) is wrong. If this test fails,
// upstream fixed it (BatchNorm2d may then use InverseSqrt; drop this test).
func TestGorgoniaInverseSqrtGradientIsWrong(t *testing.T) {
	c := opCase{name: "inversesqrt", shapes: [][]int{{5}}, diff: all(1), positive: []bool{true},
		build: raw(func(in ...*gorgonia.Node) (*gorgonia.Node, error) {
			v, err := gorgonia.Add(in[0], gorgonia.NewConstant(1e-5))
			if err != nil {
				return nil, err
			}
			return gorgonia.InverseSqrt(v)
		})}
	og := buildOpGraph(t, c, Float64)
	og.run(t, 0, -1, 0)
	g := nodeVals(t, og.grads[0])
	fd := make([]float64, len(g))
	for j := range fd {
		orig := og.vals[0][j]
		og.run(t, 0, j, orig+1e-6)
		lp := scalarVal(t, og.l)
		og.run(t, 0, j, orig-1e-6)
		lm := scalarVal(t, og.l)
		og.vals[0][j] = orig
		fd[j] = (lp - lm) / 2e-6
	}
	rel := normRelErr(g, fd)
	t.Logf("gradient through gorgonia's InverseSqrt vs central differences: relative error %.3g", rel)
	if !(rel > 1e-3) || math.IsNaN(rel) {
		t.Fatalf("InverseSqrt's gradient is now right (relative error %.3g): gorgonia fixed it", rel)
	}
}
