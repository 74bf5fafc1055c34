package autodiff

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

var printTrainHash = flag.Bool("train-hash", false, "TestTrainingBitIdentical prints its hash (the purego comparison runs it so)")

// testNet is a Net given by its shapes and forward pass (1 FLOP per sample, symbolic second
// order allowed); bufferedTestNet adds buffers (a BufferedNet).
type testNet struct {
	in      []int
	classes int
	params  [][]int
	forward func(b *Builder, x Node, p []Node) Node
}

func (n testNet) InputShape() []int                         { return n.in }
func (n testNet) Classes() int                              { return n.classes }
func (n testNet) ParamShapes() [][]int                      { return n.params }
func (n testNet) Forward(b *Builder, x Node, p []Node) Node { return n.forward(b, x, p) }
func (testNet) FLOPsPerSample() float64                     { return 1 }
func (testNet) Symbolic2nd() bool                           { return true }

type bufferedTestNet struct {
	testNet
	buffers [][]int
}

func (n bufferedTestNet) BufferShapes() [][]int { return n.buffers }

// seqConvNet is LeNet-5's layer sequence at a small size (1×12×12 input): conv 4@5×5 pad 2,
// ReLU, max-pool 2, conv 6@3×3 stride 1, ReLU, max-pool 2, linear 24→10; enough to run every
// conv and pool kernel on both the SIMD and the pure-Go paths.
var seqConvNet = testNet{in: []int{1, 12, 12}, classes: 10,
	params: [][]int{{4, 1, 5, 5}, {4}, {6, 4, 3, 3}, {6}, {10, 24}, {10}},
	forward: func(b *Builder, x Node, p []Node) Node {
		x = b.MaxPool2d(b.ReLU(b.Conv2d(x, p[0], p[1], 1, 2)), 2)
		x = b.MaxPool2d(b.ReLU(b.Conv2d(x, p[2], p[3], 1, 0)), 2)
		return b.Linear(b.Flatten(x), p[4], p[5])
	}}

// seqBNNet is a residual block with BatchNorm2d (1×12×12 input): h = ReLU(BN(conv 4@3×3
// pad 1)), z = ReLU(h + BN(conv 4@3×3 pad 1 of h)), global average pool, linear 4→10; its
// buffers are the two BatchNorm2d's running statistics.
var seqBNNet = bufferedTestNet{buffers: [][]int{{4}, {4}, {4}, {4}}, testNet: testNet{in: []int{1, 12, 12}, classes: 10,
	params: [][]int{{4, 1, 3, 3}, {4}, {4}, {4, 4, 3, 3}, {4}, {4}, {10, 4}, {10}},
	forward: func(b *Builder, x Node, p []Node) Node {
		h := b.ReLU(b.BatchNorm2d(b.Conv2d(x, p[0], Node{}, 1, 1), p[1], p[2], b.Buffer(0), b.Buffer(1), b.Training()))
		z := b.BatchNorm2d(b.Conv2d(h, p[3], Node{}, 1, 1), p[4], p[5], b.Buffer(2), b.Buffer(3), b.Training())
		return b.Linear(b.Flatten(b.GlobalAvgPool(b.ReLU(b.Add(h, z)))), p[6], p[7])
	}}}

// trainHash runs, in float32 and float64, three SGD training steps and one symbolic
// GradMatch of seqConvNet and of seqBNNet (with its buffers after the steps) on a batch of
// 19 (more than two backward-filter chunks, more channels and planes than workers) and
// returns the SHA-256 of every resulting bit.
func trainHash(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	put := func(vs ...float64) {
		for _, v := range vs {
			binary.Write(h, binary.LittleEndian, math.Float64bits(v))
		}
	}
	trainHashNet(t, seqConvNet, put)
	trainHashNet(t, seqBNNet, put)
	return hex.EncodeToString(h.Sum(nil))
}

func trainHashNet(t *testing.T, net Net, put func(vs ...float64)) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	n := 0
	for _, s := range net.ParamShapes() {
		k := 1
		for _, d := range s {
			k *= d
		}
		n += k
	}
	w0 := make([]float64, n)
	for i := range w0 {
		w0[i] = 0.3 * r.NormFloat64()
	}
	const B = 19
	x := make([]float64, B*144)
	for i := range x {
		x[i] = r.Float64()
	}
	y := make([]int, B)
	for i := range y {
		y[i] = r.IntN(10)
	}
	for _, dt := range []DType{Float32, Float64} {
		e := NewEngine(net, dt, nil)
		if bn, ok := net.(BufferedNet); ok {
			buf := make([]float64, 0, 16)
			for i := range bn.BufferShapes() {
				buf = append(buf, float64(i%2), float64(i%2), float64(i%2), float64(i%2))
			}
			if err := e.SetBuffers(buf); err != nil {
				t.Fatal(err)
			}
		}
		w := append([]float64(nil), w0...)
		dt.Round(w)
		xs := append([]float64(nil), x...)
		dt.Round(xs)
		g := make([]float64, n)
		for step := 0; step < 3; step++ {
			loss, err := e.TrainGrad(w, xs, y, g)
			if err != nil {
				t.Fatal(err)
			}
			put(loss)
			put(g...)
			for i := range w {
				w[i] -= 0.05 * g[i]
			}
			dt.Round(w)
		}
		dRdX := make([]float64, len(xs))
		r, err := e.GradMatch(Symbolic, w, xs, y, make([]float64, n), g, dRdX)
		if err != nil {
			t.Fatal(err)
		}
		put(r)
		put(dRdX...)
		put(e.Buffers()...)
	}
}

// TestTrainingBitIdentical: training steps and symbolic GradMatch through the conv and pool
// ops give the same bits for GOMAXPROCS 1, 2 and 8, and (on an AVX2 machine) the same bits
// as a -tags purego build of this test, which it builds and runs.
func TestTrainingBitIdentical(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var ref string
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		h := trainHash(t)
		if ref == "" {
			ref = h
		} else if h != ref {
			t.Errorf("GOMAXPROCS %d: hash %s, GOMAXPROCS 1: %s", procs, h, ref)
		}
	}
	if *printTrainHash {
		t.Logf("TRAINHASH %s", ref)
		return
	}
	t.Logf("hash %s for GOMAXPROCS 1, 2, 8 (SIMD kernels: %v)", ref, sgemmKernel != nil)
	if sgemmKernel == nil {
		t.Log("this build has no SIMD kernels: the purego comparison is the AVX2 build's")
		return
	}
	if testing.Short() {
		t.Skip("-short: not building the purego comparison")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH: cannot build the purego comparison")
	}
	cmd := exec.Command(goBin, "test", "-tags", "purego", "-count=1", "-run", "^TestTrainingBitIdentical$", "-v", ".", "-args", "-train-hash")
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("purego run: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if _, h, ok := strings.Cut(sc.Text(), "TRAINHASH "); ok {
			if h = strings.TrimSpace(h); h != ref {
				t.Errorf("purego build: hash %s, AVX2 build %s", h, ref)
			}
			return
		}
	}
	t.Fatalf("purego run printed no hash:\n%s", out)
}
