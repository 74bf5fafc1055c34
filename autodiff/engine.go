package autodiff

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Net is what a model must provide to be compiled (models.Model satisfies it).
type Net interface {
	InputShape() []int                              // per sample, e.g. [1 28 28] or [784]
	Classes() int                                   // number of logits
	ParamShapes() [][]int                           // in flat order
	Forward(b *Builder, x Node, params []Node) Node // returns logits [B, Classes]
	FLOPsPerSample() float64                        // forward FLOPs of one sample (2 × multiply-adds)
	Symbolic2nd() bool                              // ops allow symbolic double backprop
}

// BufferedNet is a Net with buffers: tensors its forward pass reads but training does not
// differentiate (BatchNorm2d's running mean and variance). Its Forward reads buffer i with
// Builder.Buffer(i) and its mode with Builder.Training(): LossGrad, TrainGrad, InputGrad and
// GradMatch run in training mode (batch statistics, buffers not read), Logits in eval mode
// (running statistics from SetBuffers). Only TrainGrad, the real training step, updates the
// buffers; every other call (extra passes: gradient matching, central differences,
// verification) leaves them as they are.
type BufferedNet interface {
	Net
	BufferShapes() [][]int // in flat order
}

// kind names the compiled program: which outputs it computes.
type kind int

const (
	kindLogits kind = iota
	kindLossGrad
	kindInputGrad
	kindGradMatch
)

func (k kind) String() string {
	return [...]string{"logits", "loss-grad", "input-grad", "grad-match"}[k]
}

type progKey struct {
	kind  kind
	batch int
}

// program is one compiled graph with its executor (exec.go). Inputs are bound once, by
// reference, to buffers that each call overwrites; outputs are read after each run.
type program struct {
	ex *executor
	vm gorgonia.VM // gorgonia's TapeMachine instead of ex (Engine.tapeMachine, tests only)

	x      buffer
	y      buffer   // one-hot labels [B,K]
	params []buffer // one per tensor
	bufs   []buffer // one per buffer tensor (read by eval-mode programs only)
	stats  []progStats
	gstar  []buffer // GradMatch target gradient, one per tensor

	logits *gorgonia.Node
	loss   *gorgonia.Node
	grads  []*gorgonia.Node // dL/dW per tensor (LossGrad, GradMatch)
	gx     *gorgonia.Node   // dL/dX (InputGrad) or dR/dX (GradMatch)
	r      *gorgonia.Node   // R = |g - gstar|² (GradMatch)

	// trans[i] is [out,in] when parameter tensor i (a Linear weight) is held in the graph as
	// its transpose [in,out]; zero otherwise.
	trans [][2]int

	bound bound // largest activation magnitude, from parameter and input maxima
	// checkOutput: an eval-mode program of a net with buffers, whose interval bound is
	// replaced by a check of its output (see checkSafe).
	checkOutput bool
	paramMax    []float64 // scratch for load
}

// progStats is a training-mode BatchNorm2d's batch statistics (program outputs) and the
// indices of the buffers they update.
type progStats struct {
	stats           *gorgonia.Node // [2,C]: mean, biased variance
	meanBuf, varBuf int
	n               int
}

// Engine runs compiled, pruned programs for one Net and dtype, cached per program kind and
// batch size. Not safe for concurrent use: use one Engine per goroutine (they may share a
// Ledger).
type Engine struct {
	net    Net
	dt     DType
	ledger *Ledger

	inDim     int
	classes   int
	shapes    [][]int
	sizes     []int
	numParams int
	flops     float64

	bufShapes [][]int // BufferedNet only
	bufSizes  []int
	buffers   []float64 // flat, nil until SetBuffers
	statsTmp  []float64
	setupErr  error

	progs map[progKey]*program
	f64   *Engine // float64 twin for the central-difference second-order path

	// skipDerivReset disables the derivative reset between the two Grad calls of the
	// symbolic GradMatch; only the regression test sets it.
	skipDerivReset bool
	// tapeMachine runs programs on gorgonia's TapeMachine instead of the executor; only
	// the test that compares the two sets it.
	tapeMachine bool
}

// NewEngine prepares an engine for net; programs are compiled lazily on first use of each
// (kind, batch size). ledger may be nil.
func NewEngine(net Net, dt DType, ledger *Ledger) *Engine {
	e := &Engine{net: net, dt: dt, ledger: ledger, progs: map[progKey]*program{}}
	e.setupErr = e.setup()
	return e
}

func (e *Engine) setup() error {
	if !e.dt.valid() {
		return fmt.Errorf("autodiff: invalid dtype %d", int(e.dt))
	}
	if e.net == nil {
		return errors.New("autodiff: nil net")
	}
	e.inDim = 1
	for _, d := range e.net.InputShape() {
		if d < 1 {
			return fmt.Errorf("autodiff: input shape %v has a non-positive dimension", e.net.InputShape())
		}
		e.inDim *= d
	}
	if e.classes = e.net.Classes(); e.classes < 1 {
		return fmt.Errorf("autodiff: %d classes", e.classes)
	}
	e.shapes = e.net.ParamShapes()
	if len(e.shapes) == 0 {
		return errors.New("autodiff: net has no parameters")
	}
	var err error
	if e.sizes, err = sizesOf("parameter", e.shapes); err != nil {
		return err
	}
	for _, n := range e.sizes {
		e.numParams += n
	}
	e.flops = e.net.FLOPsPerSample()
	if bn, ok := e.net.(BufferedNet); ok {
		e.bufShapes = bn.BufferShapes()
		if e.bufSizes, err = sizesOf("buffer", e.bufShapes); err != nil {
			return err
		}
	}
	return nil
}

// sizesOf returns the element count of each shape, rejecting non-positive dimensions.
func sizesOf(what string, shapes [][]int) ([]int, error) {
	sizes := make([]int, len(shapes))
	for i, s := range shapes {
		n := 1
		for _, d := range s {
			if d < 1 {
				return nil, fmt.Errorf("autodiff: %s %d shape %v has a non-positive dimension", what, i, s)
			}
			n *= d
		}
		sizes[i] = n
	}
	return sizes, nil
}

// NumBuffers is the length of the flat buffer vector (0 for a net without buffers).
func (e *Engine) NumBuffers() int {
	n := 0
	for _, s := range e.bufSizes {
		n += s
	}
	return n
}

// SetBuffers copies the flat buffers (running statistics) the engine starts from; Logits
// and TrainGrad of a net with buffers need them.
func (e *Engine) SetBuffers(buf []float64) error {
	if len(buf) != e.NumBuffers() {
		return fmt.Errorf("autodiff: %d buffer values, want %d", len(buf), e.NumBuffers())
	}
	if m := maxAbs(buf); math.IsInf(m, 0) {
		return fmt.Errorf("autodiff: buffers have a non-finite value: %w", ErrUnsafeValues)
	}
	e.buffers = append(e.buffers[:0], buf...)
	e.dt.Round(e.buffers)
	return nil
}

// Buffers returns a copy of the current flat buffers (nil before SetBuffers).
func (e *Engine) Buffers() []float64 {
	if e.buffers == nil {
		return nil
	}
	return append([]float64(nil), e.buffers...)
}

// batchOf validates the lengths of params, x and (if wanted) labels and returns the batch size.
func (e *Engine) batchOf(params, x []float64, labels []int, wantLabels bool) (int, error) {
	if e.setupErr != nil {
		return 0, e.setupErr
	}
	if len(params) != e.numParams {
		return 0, fmt.Errorf("autodiff: %d parameters, want %d", len(params), e.numParams)
	}
	if len(x) == 0 || len(x)%e.inDim != 0 {
		return 0, fmt.Errorf("autodiff: input length %d is not a positive multiple of %d", len(x), e.inDim)
	}
	B := len(x) / e.inDim
	if wantLabels {
		if len(labels) != B {
			return 0, fmt.Errorf("autodiff: %d labels for a batch of %d", len(labels), B)
		}
		for i, c := range labels {
			if c < 0 || c >= e.classes {
				return 0, fmt.Errorf("autodiff: label %d of sample %d outside [0,%d)", c, i, e.classes)
			}
		}
	}
	return B, nil
}

// program returns the cached program for (k, B), compiling it on first use.
func (e *Engine) program(k kind, B int) (*program, error) {
	key := progKey{k, B}
	if p, ok := e.progs[key]; ok {
		return p, nil
	}
	p, err := e.compile(k, B)
	if err != nil {
		return nil, fmt.Errorf("autodiff: compile %s program, batch %d: %w", k, B, err)
	}
	e.progs[key] = p
	return p, nil
}

// input creates a graph input of the given shape bound to a fresh buffer.
func (e *Engine) input(g *gorgonia.ExprGraph, name string, shape []int) (*gorgonia.Node, buffer) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	buf := newBuffer(e.dt, n)
	t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(buf.backing()))
	node := gorgonia.NewTensor(g, e.dt.gorgonia(), len(shape), gorgonia.WithShape(shape...),
		gorgonia.WithName(name), gorgonia.WithValue(t))
	return node, buf
}

// buildMu serializes graph construction and compilation: gorgonia keeps global counters
// (e.g. internal/encoding.NewGroup) that race when two goroutines build graphs at once.
// Running compiled machines needs no lock (one machine per engine, one engine per goroutine).
var buildMu sync.Mutex

// errWeightUsedDirectly means a Linear weight also feeds another op, so it cannot live in
// the graph only as its transpose; compile then builds the graph with Transpose ops.
var errWeightUsedDirectly = errors.New("a Linear weight is also used directly")

func (e *Engine) compile(k kind, B int) (p *program, err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia panicked: %v", r)
		}
	}()
	p, err = e.compileWith(k, B, true)
	if errors.Is(err, errWeightUsedDirectly) {
		p, err = e.compileWith(k, B, false)
	}
	return p, err
}

// compileWith builds and compiles the program; with transposeWeights, each Linear weight
// [out,in] is a graph input holding its transpose (see Builder.transposedLeaf).
func (e *Engine) compileWith(k kind, B int, transposeWeights bool) (p *program, err error) {
	if k == kindGradMatch && !e.net.Symbolic2nd() {
		return nil, errors.New("net does not support symbolic second-order gradients")
	}
	g := gorgonia.NewGraph()
	b := &Builder{g: g, dt: e.dt, bounds: map[*gorgonia.Node]bound{}, secondOrder: k == kindGradMatch}
	p = &program{paramMax: make([]float64, len(e.shapes)+len(e.bufShapes)), trans: make([][2]int, len(e.shapes))}

	xShape := append([]int{B}, e.net.InputShape()...)
	x, xbuf := e.input(g, "x", xShape)
	p.x = xbuf
	b.registerLeaf(x, func(_ []float64, xm float64) float64 { return xm })
	pnodes := make([]Node, len(e.shapes))
	raw := make([]*gorgonia.Node, len(e.shapes)) // the leaves the graph reads, per tensor
	orig := make(map[*gorgonia.Node]int, len(e.shapes))
	for i, s := range e.shapes {
		n, buf := e.input(g, fmt.Sprintf("param%d", i), s)
		pnodes[i], raw[i], orig[n] = Node{n}, n, i
		b.registerLeaf(n, func(pm []float64, _ float64) float64 { return pm[i] })
		p.params = append(p.params, buf)
	}
	b.training = k != kindLogits
	bufNodes := make([]*gorgonia.Node, len(e.bufShapes))
	bufIndex := map[*gorgonia.Node]int{}
	for i, s := range e.bufShapes {
		n, buf := e.input(g, fmt.Sprintf("buffer%d", i), s)
		b.registerLeaf(n, func(pm []float64, _ float64) float64 { return pm[len(e.shapes)+i] })
		b.buffers = append(b.buffers, Node{n})
		p.bufs = append(p.bufs, buf)
		bufNodes[i], bufIndex[n] = n, i
	}
	if transposeWeights {
		b.transposedLeaf = func(w *gorgonia.Node) *gorgonia.Node {
			i, ok := orig[w]
			if !ok || len(e.shapes[i]) != 2 {
				return nil
			}
			if p.trans[i] == ([2]int{}) {
				s := e.shapes[i]
				n, buf := e.input(g, fmt.Sprintf("param%dT", i), []int{s[1], s[0]})
				b.registerLeaf(n, func(pm []float64, _ float64) float64 { return pm[i] })
				p.trans[i], p.params[i], raw[i] = [2]int{s[0], s[1]}, buf, n
			}
			return raw[i]
		}
	}

	z := e.net.Forward(b, Node{x}, pnodes)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if zs := z.Shape(); len(zs) != 2 || zs[0] != B || zs[1] != e.classes {
		return nil, fmt.Errorf("forward returned shape %v, want [%d %d]", zs, B, e.classes)
	}
	for n, i := range orig {
		if p.trans[i] != ([2]int{}) && g.To(n.ID()).Len() > 0 {
			return nil, errWeightUsedDirectly
		}
	}
	inputs := append(gorgonia.Nodes{x}, raw...)
	for _, n := range bufNodes {
		if g.To(n.ID()).Len() > 0 {
			inputs = append(inputs, n)
		}
	}
	p.logits = z.n
	p.bound = b.activationBound()
	p.checkOutput = k == kindLogits && len(e.bufShapes) > 0
	var outputs gorgonia.Nodes
	if k == kindLogits {
		outputs = gorgonia.Nodes{z.n}
	} else {
		y, ybuf := e.input(g, "y", []int{B, e.classes})
		p.y = ybuf
		inputs = append(inputs, y)
		loss := b.crossEntropy(z, Node{y})
		if err := b.Err(); err != nil {
			return nil, err
		}
		p.loss = loss.n
		outputs = gorgonia.Nodes{loss.n}
	}

	switch k {
	case kindLossGrad:
		if p.grads, err = gorgonia.Grad(p.loss, raw...); err != nil {
			return nil, fmt.Errorf("grad w.r.t. parameters: %w", err)
		}
		outputs = append(outputs, p.grads...)
		for _, st := range b.stats {
			p.stats = append(p.stats, progStats{stats: st.stats,
				meanBuf: bufIndex[st.runningMean], varBuf: bufIndex[st.runningVar], n: st.n})
			outputs = append(outputs, st.stats)
		}
	case kindInputGrad:
		gs, err := gorgonia.Grad(p.loss, x)
		if err != nil {
			return nil, fmt.Errorf("grad w.r.t. input: %w", err)
		}
		p.gx = gs[0]
		outputs = append(outputs, p.gx)
	case kindGradMatch:
		if p.grads, err = gorgonia.Grad(p.loss, raw...); err != nil {
			return nil, fmt.Errorf("grad w.r.t. parameters: %w", err)
		}
		stars := make([]*gorgonia.Node, len(e.shapes))
		for i, s := range e.shapes {
			if t := p.trans[i]; t != ([2]int{}) {
				s = []int{t[1], t[0]}
			}
			n, buf := e.input(g, fmt.Sprintf("gstar%d", i), s)
			stars[i] = n
			p.gstar = append(p.gstar, buf)
			inputs = append(inputs, n)
		}
		r := b.sqDist(p.grads, stars)
		if err := b.Err(); err != nil {
			return nil, err
		}
		p.r = r.n
		if !e.skipDerivReset {
			if err := resetDerivs(g); err != nil {
				return nil, err
			}
		}
		gs, err := gorgonia.Grad(p.r, x)
		if err != nil {
			return nil, fmt.Errorf("second-order grad w.r.t. input: %w", err)
		}
		p.gx = gs[0]
		outputs = append(outputs, p.r, p.gx)
		outputs = append(outputs, p.grads...)
	}

	if e.tapeMachine {
		prog, locMap, err := gorgonia.CompileFunction(g, inputs, outputs)
		if err != nil {
			return nil, fmt.Errorf("compile: %w", err)
		}
		p.vm = gorgonia.NewTapeMachine(g, gorgonia.WithPrecompiled(prog, locMap))
		return p, nil
	}
	if p.ex, err = newExecutor(outputs); err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	return p, nil
}

// run executes the program once; value then returns its outputs.
func (p *program) run() (err error) {
	if p.ex != nil {
		if err := p.ex.run(); err != nil {
			return fmt.Errorf("run: %w", err)
		}
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia panicked: %v", r)
		}
	}()
	// Reset first: RunAll on a machine that already ran silently does nothing.
	p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// value returns output n's value after the last run.
func (p *program) value(n *gorgonia.Node) gorgonia.Value {
	if p.ex != nil {
		return p.ex.value(n)
	}
	return n.Value()
}

// load checks that parameters and inputs are safe to run (ErrUnsafeValues) and copies them
// and the one-hot labels into the program's buffers.
func (e *Engine) load(p *program, params, x []float64, labels []int) error {
	off := 0
	for i := range p.params {
		p.paramMax[i] = maxAbs(params[off : off+e.sizes[i]])
		off += e.sizes[i]
	}
	if len(p.bufs) > 0 && e.buffers == nil && labels == nil {
		return errors.New("autodiff: the net has buffers (running statistics): call SetBuffers before Logits")
	}
	off = 0
	for i, n := range e.bufSizes {
		if e.buffers != nil {
			p.paramMax[len(p.params)+i] = maxAbs(e.buffers[off : off+n])
			p.bufs[i].set(e.buffers[off : off+n])
		}
		off += n
	}
	if err := p.checkSafe(e.dt, p.paramMax, maxAbs(x)); err != nil {
		return err
	}
	e.setParams(p, p.params, params)
	p.x.set(x)
	if labels != nil {
		p.y.zero()
		for i, c := range labels {
			p.y.setAt(i*e.classes+c, 1)
		}
	}
	return nil
}

// setParams copies the flat vector src (PyTorch layout) into per-tensor buffers bufs,
// transposing the tensors the graph holds transposed.
func (e *Engine) setParams(p *program, bufs []buffer, src []float64) {
	off := 0
	for i, buf := range bufs {
		part := src[off : off+e.sizes[i]]
		if t := p.trans[i]; t != ([2]int{}) {
			buf.setTransposed(part, t[0], t[1])
		} else {
			buf.set(part)
		}
		off += e.sizes[i]
	}
}

// runBatch runs the batch-B program of kind k on params, x and labels (and gstar, the
// GradMatch target, when not nil) and returns its scalar output (the loss, GradMatch's R; 0
// for Logits) after read has copied its other outputs out. Errors of compiling and loading
// carry their own context; those of the run, of reading the scalar and of read are wrapped
// as "autodiff: <name>: …".
func (e *Engine) runBatch(name string, k kind, B int, params, x []float64, labels []int, gstar []float64, read func(*program) error) (float64, error) {
	p, err := e.program(k, B)
	if err != nil {
		return 0, err
	}
	if err := e.load(p, params, x, labels); err != nil {
		return 0, err
	}
	if gstar != nil {
		e.setParams(p, p.gstar, gstar)
	}
	scalar := p.loss
	if k == kindGradMatch {
		scalar = p.r
	}
	var v float64
	err = p.run()
	if err == nil && scalar != nil {
		v, err = readValue(p.value(scalar), nil)
	}
	if err == nil {
		err = read(p)
	}
	if err != nil {
		return 0, fmt.Errorf("autodiff: %s: %w", name, err)
	}
	return v, nil
}

// readGrads copies per-tensor gradient values into the flat vector dst (PyTorch layout).
func (e *Engine) readGrads(p *program, nodes []*gorgonia.Node, dst []float64) error {
	off := 0
	for i, n := range nodes {
		part := dst[off : off+e.sizes[i]]
		var err error
		if t := p.trans[i]; t != ([2]int{}) {
			err = readTransposed(p.value(n), part, t[0], t[1])
		} else {
			_, err = readValue(p.value(n), part)
		}
		if err != nil {
			return err
		}
		off += e.sizes[i]
	}
	return nil
}

func (e *Engine) record(start time.Time, B int, fwd, bwd, second int64, flops float64) {
	e.ledger.add(Cost{
		Forward: fwd, Backward: bwd, SecondOrder: second,
		Samples: fwd * int64(B),
		FLOPs:   flops,
		Wall:    time.Since(start),
	})
}

// LossGrad returns the mean cross-entropy loss and writes its gradient w.r.t. the flat
// parameters into grad (length NumParams).
func (e *Engine) LossGrad(params, x []float64, labels []int, grad []float64) (float64, error) {
	start := time.Now()
	B, err := e.batchOf(params, x, labels, true)
	if err != nil {
		return 0, err
	}
	if len(grad) != e.numParams {
		return 0, fmt.Errorf("autodiff: LossGrad: grad has %d elements, want %d", len(grad), e.numParams)
	}
	loss, err := e.runBatch("LossGrad", kindLossGrad, B, params, x, labels, nil, func(p *program) error {
		return e.readGrads(p, p.grads, grad)
	})
	if err != nil {
		return 0, err
	}
	e.record(start, B, 1, 1, 0, 3*e.flops*float64(B))
	return loss, nil
}

// TrainGrad is LossGrad for a real training step: it also commits the batch statistics of
// every BatchNorm2d into the buffers (running = (1-m)·running + m·batch, m = 0.1, the
// variance unbiased: PyTorch's rule), rounded to the engine's dtype. Nets without buffers:
// the same as LossGrad. Buffers must have been set (SetBuffers).
func (e *Engine) TrainGrad(params, x []float64, labels []int, grad []float64) (float64, error) {
	if e.NumBuffers() > 0 && e.buffers == nil {
		return 0, errors.New("autodiff: TrainGrad: the net has buffers (running statistics): call SetBuffers first")
	}
	loss, err := e.LossGrad(params, x, labels, grad)
	if err != nil || e.NumBuffers() == 0 {
		return loss, err
	}
	p, err := e.program(kindLossGrad, len(labels))
	if err != nil {
		return 0, err
	}
	offs := make([]int, len(e.bufSizes)+1)
	for i, n := range e.bufSizes {
		offs[i+1] = offs[i] + n
	}
	for _, st := range p.stats {
		mean, variance := e.buffers[offs[st.meanBuf]:offs[st.meanBuf+1]], e.buffers[offs[st.varBuf]:offs[st.varBuf+1]]
		e.statsTmp = grow(e.statsTmp, len(mean)+len(variance))
		if _, err := readValue(p.value(st.stats), e.statsTmp); err != nil {
			return 0, fmt.Errorf("autodiff: TrainGrad: %w", err)
		}
		commitStats(mean, e.statsTmp[:len(mean)], 1)
		commitStats(variance, e.statsTmp[len(mean):], float64(st.n)/float64(st.n-1))
		e.dt.Round(mean)
		e.dt.Round(variance)
	}
	return loss, nil
}

// commitStats updates running statistics with a batch's: running = (1-m)·running +
// m·scale·batch (scale n/(n-1) makes the variance unbiased), each product rounded.
func commitStats(running, batch []float64, scale float64) {
	for c, v := range batch {
		running[c] = float64((1-bnMomentum)*running[c]) + float64(bnMomentum*float64(v*scale))
	}
}

// InputGrad returns the mean cross-entropy loss and writes its gradient w.r.t. the inputs
// into gx (length len(x)).
func (e *Engine) InputGrad(params, x []float64, labels []int, gx []float64) (float64, error) {
	start := time.Now()
	B, err := e.batchOf(params, x, labels, true)
	if err != nil {
		return 0, err
	}
	if len(gx) != len(x) {
		return 0, fmt.Errorf("autodiff: InputGrad: gx has %d elements, want %d", len(gx), len(x))
	}
	loss, err := e.runBatch("InputGrad", kindInputGrad, B, params, x, labels, nil, func(p *program) error {
		_, err := readValue(p.value(p.gx), gx)
		return err
	})
	if err != nil {
		return 0, err
	}
	e.record(start, B, 1, 1, 0, 3*e.flops*float64(B))
	return loss, nil
}

// Logits runs the forward pass only; out has B*Classes elements, row-major [B, Classes].
func (e *Engine) Logits(params, x []float64, out []float64) error {
	start := time.Now()
	B, err := e.batchOf(params, x, nil, false)
	if err != nil {
		return err
	}
	if len(out) != B*e.classes {
		return fmt.Errorf("autodiff: Logits: out has %d elements, want %d", len(out), B*e.classes)
	}
	_, err = e.runBatch("Logits", kindLogits, B, params, x, nil, nil, func(p *program) error {
		if _, err := readValue(p.value(p.logits), out); err != nil {
			return err
		}
		if p.checkOutput && math.IsInf(maxAbs(out), 0) {
			return fmt.Errorf("the forward pass overflowed %v: %w", e.dt, ErrUnsafeValues)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.record(start, B, 1, 0, 0, e.flops*float64(B))
	return nil
}
