package gauntlet

import (
	"fmt"
	"math"
	"strconv"

	"pollab/data"
	"pollab/internal/detmath"
	"pollab/prover"
)

// Kind is a peer's behaviour.
type Kind string

// The peer kinds. Only Honest and OffAssignment train every window; Replayer trains once.
const (
	Honest        Kind = "honest"         // H SGD steps on its uid-seeded assignment
	FreeRider     Kind = "free-rider"     // another peer's previous update plus noise (Param: std in rms units)
	Replayer      Kind = "replayer"       // its own first update, resubmitted every window
	LazyZero      Kind = "lazy-zero"      // an all-zero update
	LazyRandom    Kind = "lazy-random"    // N(0, Param²) noise
	OffAssignment Kind = "off-assignment" // H SGD steps on uniformly random data, not its assignment
	ScaledCopier  Kind = "scaled-copier"  // another peer's previous update times Param
	Malformed     Kind = "malformed"      // NaN, +Inf or a wrong shape, in turn
)

// Peer is one simulated participant.
type Peer struct {
	UID   int     `json:"uid"`
	Kind  Kind    `json:"kind"`
	Param float64 `json:"param,omitempty"` // noise level, random std or scale
}

// Label names the peer's kind with its parameter, e.g. "free-rider:0.5".
func (p Peer) Label() string {
	switch p.Kind {
	case FreeRider, ScaledCopier:
		return string(p.Kind) + ":" + strconv.FormatFloat(p.Param, 'g', -1, 64)
	}
	return string(p.Kind)
}

// The scenarios a run simulates for each seed.
const (
	Mixed        = "mixed"  // every peer kind of the spec
	HonestOnly   = "honest" // the same honest peers (same uids, same data) alone
	DataParallel = "dp"     // plain data-parallel SGD over the honest peers' batches, same total work
)

// Scenarios in the order a run reports them.
var Scenarios = []string{Mixed, HonestOnly, DataParallel}

// Population lists the peers of a scenario: honest peers first (uids 0..honest-1, the same
// in every scenario), then the cheaters in spec order.
func (s *Spec) Population(scenario string) []Peer {
	p := s.Peers
	var out []Peer
	add := func(k Kind, param float64) { out = append(out, Peer{UID: len(out), Kind: k, Param: param}) }
	for range p.Honest {
		add(Honest, 0)
	}
	if scenario != Mixed {
		return out
	}
	for _, x := range p.FreeRiderNoise {
		add(FreeRider, x)
	}
	for range p.Replayer {
		add(Replayer, 0)
	}
	for range p.LazyZero {
		add(LazyZero, 0)
	}
	for range p.LazyRandom {
		add(LazyRandom, p.LazyRandomStd)
	}
	for range p.OffAssignment {
		add(OffAssignment, 0)
	}
	for _, x := range p.ScaledCopier {
		add(ScaledCopier, x)
	}
	for range p.Malformed {
		add(Malformed, 0)
	}
	return out
}

// assignment is the data a peer is assigned in window w: H·B training indices from a PCG
// seeded by the run seed, the uid and the window (Templar seeds pages by uid and window).
func assignment(seed uint64, uid, window, n, count int) []int32 {
	return drawIndices(data.SubSeed(seed, "assign:"+strconv.Itoa(uid), window), n, count)
}

func drawIndices(seed uint64, n, count int) []int32 {
	r := data.NewRNG(seed)
	out := make([]int32, count)
	for i := range out {
		out[i] = int32(r.IntN(n))
	}
	return out
}

// train runs H SGD steps from theta over idx (H consecutive batches) and returns the
// pseudo-gradient theta − theta_H.
func (j *job) train(theta []float64, idx []int32) ([]float64, error) {
	b := j.spec.Peer.Batch
	st := &prover.State{LR: j.spec.Peer.LR, Params: append([]float64(nil), theta...)}
	for h := range j.spec.Peer.InnerSteps {
		if err := j.peerStep.Step(st, j.hyper, idx[h*b:(h+1)*b], 0, false); err != nil {
			return nil, err
		}
	}
	d := make([]float64, len(theta))
	for i := range d {
		d[i] = theta[i] - st.Params[i]
	}
	j.dt.Round(d)
	return d, nil
}

// submit is peer p's update for window w (nil: nothing submitted). prev holds the previous
// window's well-formed submissions by uid, replay the replayers' stored updates.
func (j *job) submit(p Peer, w int, theta []float64, prev, replay [][]float64) ([]float64, error) {
	n := len(theta)
	hb := j.spec.Peer.InnerSteps * j.spec.Peer.Batch
	rng := data.NewRNG(data.SubSeed(j.seed, "peer:"+strconv.Itoa(p.UID), w))
	switch p.Kind {
	case Honest:
		return j.train(theta, assignment(j.seed, p.UID, w, j.trainSet.Len(), hb))
	case OffAssignment:
		return j.train(theta, drawIndices(data.SubSeed(j.seed, "offdata:"+strconv.Itoa(p.UID), w), j.trainSet.Len(), hb))
	case Replayer:
		if replay[p.UID] == nil {
			d, err := j.train(theta, assignment(j.seed, p.UID, w, j.trainSet.Len(), hb))
			if err != nil {
				return nil, err
			}
			replay[p.UID] = d
		}
		return append([]float64(nil), replay[p.UID]...), nil
	case LazyZero:
		return make([]float64, n), nil
	case LazyRandom:
		d := make([]float64, n)
		for i := range d {
			d[i] = p.Param * detmath.Normal(rng)
		}
		j.dt.Round(d)
		j.peerLedger.AddOther(float64(n), 0)
		return d, nil
	case FreeRider, ScaledCopier:
		var victims []int
		for uid, d := range prev {
			if d != nil && uid != p.UID {
				victims = append(victims, uid)
			}
		}
		if len(victims) == 0 {
			return nil, nil // nothing to copy yet: missing
		}
		src := prev[victims[rng.IntN(len(victims))]]
		d := make([]float64, n)
		if p.Kind == ScaledCopier {
			for i := range d {
				d[i] = p.Param * src[i]
			}
			j.peerLedger.AddOther(float64(n), 0)
		} else {
			sd := p.Param * rms(src)
			for i := range d {
				d[i] = src[i] + float64(sd*detmath.Normal(rng))
			}
			j.peerLedger.AddOther(2*float64(n), 0)
		}
		j.dt.Round(d)
		return d, nil
	case Malformed:
		d := make([]float64, n)
		switch w % 3 {
		case 0:
			d[rng.IntN(n)] = math.NaN()
		case 1:
			d[rng.IntN(n)] = math.Inf(1)
		default:
			d = d[:n-1]
		}
		return d, nil
	}
	return nil, fmt.Errorf("peer %d: unknown kind %q", p.UID, p.Kind)
}

func rms(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	return norm(x) / math.Sqrt(float64(len(x)))
}

func norm(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += float64(v * v)
	}
	return math.Sqrt(s)
}

// wellFormed: the right length and every value finite.
func wellFormed(d []float64, n int) bool {
	if len(d) != n {
		return false
	}
	for _, v := range d {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
