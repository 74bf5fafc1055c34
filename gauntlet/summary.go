package gauntlet

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"pollab/internal/atomicfile"
	"pollab/internal/buildinfo"
	"pollab/models"
)

// KindSummary is one peer label's outcome in the mixed scenario, over all seeds.
type KindSummary struct {
	Label string  `json:"label"`
	Kind  Kind    `json:"kind"`
	Param float64 `json:"param"`
	Peers int     `json:"peers"` // per seed
	// RewardShare: the label's part of all emission paid, mean (and sd) over seeds.
	RewardShare   Num `json:"reward_share"`
	RewardShareSD Num `json:"reward_share_sd"`
	// Per peer, relative to an honest peer of the same runs.
	RewardVsHonest Num     `json:"reward_vs_honest"`
	FLOPsPerWindow float64 `json:"flops_per_peer_window"` // mean compute per peer per window
	FLOPsVsHonest  Num     `json:"flops_vs_honest"`
	// RewardPerFLOPVsHonest: reward per FLOP over an honest peer's; null when it spent none.
	RewardPerFLOPVsHonest *float64 `json:"reward_per_flop_vs_honest"`
	Scored                int      `json:"scored"`          // evaluations with a LossScore
	NegativeFrac          Num      `json:"negative_frac"`   // of those, indicator −1
	MeanLossScore         Num      `json:"mean_loss_score"` // over scored evaluations
	Caught                int      `json:"caught"`          // peer-runs whose b went negative
	Runs                  int      `json:"runs"`            // peer-runs (peers × seeds)
	// CatchWindow: mean window at which b first went negative, over caught peer-runs
	// (null: never); CatchEvals: mean scored evaluations up to then.
	CatchWindow *float64 `json:"catch_window"`
	CatchEvals  *float64 `json:"catch_evals"`
	FinalBinary Num      `json:"final_binary"` // mean b after the last window
}

// ScenarioSummary is the global model's test loss per scenario.
type ScenarioSummary struct {
	Scenario    string  `json:"scenario"`
	FirstLoss   Num     `json:"first_window_test_loss"` // after window 0, mean over seeds
	FinalLoss   Num     `json:"final_test_loss"`
	FinalLossSD Num     `json:"final_test_loss_sd"`
	PeerFLOPs   float64 `json:"peer_flops_per_window"` // all peers' compute per window, mean
	ValFLOPs    float64 `json:"validator_flops_per_window"`
}

// Summary is summary.json.
type Summary struct {
	Spec            string            `json:"spec"`
	Model           string            `json:"model"`
	Params          int               `json:"params"`
	Seeds           []uint64          `json:"seeds"`
	Windows         int               `json:"windows"`
	HonestStepFLOPs float64           `json:"honest_step_flops"` // one SGD step of a peer: 3·F·B
	Kinds           []KindSummary     `json:"kinds"`
	Scenarios       []ScenarioSummary `json:"scenarios"`
}

// Summarize reduces the rows (from a run or read back from CSV) to the summary.
func Summarize(s *Spec, peers []PeerRow, global []GlobalRow) *Summary {
	sum := &Summary{Spec: s.Name, Model: s.Model, Seeds: s.Seeds, Windows: s.Windows}
	if m, err := models.Parse(s.Model); err == nil {
		sum.Params = m.NumParams()
		sum.HonestStepFLOPs = 3 * m.FLOPsPerSample() * float64(s.Peer.Batch)
	}
	pop := s.Population(Mixed)
	var labels []string
	count := map[string]int{}
	first := map[string]Peer{}
	for _, p := range pop {
		if count[p.Label()] == 0 {
			labels = append(labels, p.Label())
			first[p.Label()] = p
		}
		count[p.Label()]++
	}
	type acc struct {
		reward, flops, lossScore float64
		scored, negative, caught int
		catchW, catchE           []float64
		finalB                   float64
	}
	perSeed := map[string]map[uint64]float64{}
	accs := map[string]*acc{}
	for _, l := range labels {
		accs[l] = &acc{}
		perSeed[l] = map[uint64]float64{}
	}
	totalPaid := map[uint64]float64{}
	type peerRun struct {
		seed uint64
		uid  int
	}
	caughtAt := map[peerRun]bool{}
	evals := map[peerRun]int{}
	for _, r := range peers {
		if r.Scenario != Mixed {
			continue
		}
		a := accs[r.Label]
		if a == nil {
			continue
		}
		a.reward += r.Weight
		a.flops += r.FLOPs
		perSeed[r.Label][r.Seed] += r.Weight
		totalPaid[r.Seed] += r.Weight
		pr := peerRun{r.Seed, r.UID}
		if r.Status == "scored" {
			a.scored++
			evals[pr]++
			a.lossScore += r.LossScore
			if r.Indicator < 0 {
				a.negative++
			}
		}
		if r.Binary < 0 && !caughtAt[pr] {
			caughtAt[pr] = true
			a.caught++
			a.catchW = append(a.catchW, float64(r.Window))
			a.catchE = append(a.catchE, float64(evals[pr]))
		}
		if r.Window == s.Windows-1 {
			a.finalB += r.Binary
		}
	}
	runs := float64(len(s.Seeds))
	honest := accs[string(Honest)]
	honestReward := honest.reward / float64(count[string(Honest)])
	honestFLOPs := honest.flops / float64(count[string(Honest)])
	for _, l := range labels {
		a, p := accs[l], first[l]
		k := KindSummary{Label: l, Kind: p.Kind, Param: p.Param, Peers: count[l], Scored: a.scored, Caught: a.caught,
			Runs: count[l] * len(s.Seeds)}
		var shares []float64
		for _, seed := range s.Seeds {
			if totalPaid[seed] > 0 {
				shares = append(shares, perSeed[l][seed]/totalPaid[seed])
			}
		}
		k.RewardShare, k.RewardShareSD = meanSD(shares)
		perPeerReward := a.reward / float64(count[l])
		perPeerFLOPs := a.flops / float64(count[l])
		k.FLOPsPerWindow = perPeerFLOPs / (runs * float64(s.Windows))
		k.RewardVsHonest = ratio(perPeerReward, honestReward)
		k.FLOPsVsHonest = ratio(perPeerFLOPs, honestFLOPs)
		if perPeerFLOPs > 0 && honestReward > 0 {
			x := (perPeerReward / perPeerFLOPs) / (honestReward / honestFLOPs)
			k.RewardPerFLOPVsHonest = &x
		}
		if a.scored > 0 {
			k.NegativeFrac = Num(float64(a.negative) / float64(a.scored))
			k.MeanLossScore = Num(a.lossScore / float64(a.scored))
		}
		if len(a.catchW) > 0 {
			w, _ := meanSD64(a.catchW)
			e, _ := meanSD64(a.catchE)
			k.CatchWindow, k.CatchEvals = &w, &e
		}
		k.FinalBinary = Num(a.finalB / float64(k.Runs))
		sum.Kinds = append(sum.Kinds, k)
	}
	for _, sc := range Scenarios {
		ss := ScenarioSummary{Scenario: sc}
		var firsts, finals []float64
		var pf, vf, nw float64
		for _, g := range global {
			if g.Scenario != sc {
				continue
			}
			switch g.Window {
			case 0:
				firsts = append(firsts, g.TestLoss)
			case s.Windows - 1:
				finals = append(finals, g.TestLoss)
			}
			pf += g.PeerFLOPs
			vf += g.ValidatorFLOPs
			nw++
		}
		if nw == 0 {
			continue
		}
		ss.FirstLoss, _ = meanSD(firsts)
		ss.FinalLoss, ss.FinalLossSD = meanSD(finals)
		ss.PeerFLOPs, ss.ValFLOPs = pf/nw, vf/nw
		sum.Scenarios = append(sum.Scenarios, ss)
	}
	return sum
}

// Num is a float that is JSON null when undefined (NaN, e.g. a ratio to zero).
type Num float64

// MarshalJSON writes null for NaN and ±Inf.
func (x Num) MarshalJSON() ([]byte, error) {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads null as NaN.
func (x *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*x = Num(math.NaN())
		return nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*x = Num(f)
	return err
}

func ratio(a, b float64) Num {
	if b == 0 {
		return Num(math.NaN())
	}
	return Num(a / b)
}

func meanSD(x []float64) (Num, Num) {
	m, sd := meanSD64(x)
	return Num(m), Num(sd)
}

func meanSD64(x []float64) (float64, float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	if len(x) < 2 {
		return m, 0
	}
	var ss float64
	for _, v := range x {
		ss += float64((v - m) * (v - m))
	}
	return m, math.Sqrt(ss / float64(len(x)-1))
}

func fmtF[T ~float64](x T) string { return strconv.FormatFloat(float64(x), 'g', -1, 64) }

func fmtOpt(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

// Markdown renders summary.md.
func (s *Summary) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Gauntlet simulation `%s`\n\n", s.Spec)
	fmt.Fprintf(&b, "Model %s (%d parameters), %d windows, seeds %v. One peer SGD step = %.4g FLOPs.\n\n", s.Model, s.Params, s.Windows, s.Seeds, s.HonestStepFLOPs)
	b.WriteString("## Mixed scenario: who earns what (over all seeds)\n\n")
	b.WriteString("| peer | peers | reward share | reward / peer (× honest) | compute / peer (× honest) | reward per FLOP (× honest) | mean LossScore | −1 indicators | b < 0 (peer-runs) | first b < 0 at window (evals) | final b |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range s.Kinds {
		fmt.Fprintf(&b, "| %s | %d | %.3f ± %.3f | %.3f | %.3g | %s | %.4g | %.2f | %d/%d | %s (%s) | %.3f |\n",
			k.Label, k.Peers, k.RewardShare, k.RewardShareSD, k.RewardVsHonest, k.FLOPsVsHonest, fmtOpt(k.RewardPerFLOPVsHonest, "%.3g"),
			k.MeanLossScore, k.NegativeFrac, k.Caught, k.Runs, fmtOpt(k.CatchWindow, "%.1f"), fmtOpt(k.CatchEvals, "%.1f"), k.FinalBinary)
	}
	b.WriteString("\n## Global model: test loss per scenario (mean ± sd over seeds)\n\n")
	b.WriteString("| scenario | after window 0 | after the last window | peer FLOPs / window | validator FLOPs / window |\n|---|---:|---:|---:|---:|\n")
	for _, sc := range s.Scenarios {
		fmt.Fprintf(&b, "| %s | %.4f | %.4f ± %.4f | %.4g | %.4g |\n", sc.Scenario, sc.FirstLoss, sc.FinalLoss, sc.FinalLossSD, sc.PeerFLOPs, sc.ValFLOPs)
	}
	return b.String()
}

func (s *Summary) csv() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"label", "kind", "param", "peers", "reward_share", "reward_share_sd", "reward_vs_honest", "flops_per_peer_window",
		"flops_vs_honest", "reward_per_flop_vs_honest", "scored", "negative_frac", "mean_loss_score", "caught", "runs", "catch_window", "catch_evals", "final_binary"})
	opt := func(p *float64) string {
		if p == nil {
			return ""
		}
		return fmtF(*p)
	}
	for _, k := range s.Kinds {
		w.Write([]string{k.Label, string(k.Kind), fmtF(k.Param), strconv.Itoa(k.Peers), fmtF(k.RewardShare), fmtF(k.RewardShareSD),
			fmtF(k.RewardVsHonest), fmtF(k.FLOPsPerWindow), fmtF(k.FLOPsVsHonest), opt(k.RewardPerFLOPVsHonest), strconv.Itoa(k.Scored),
			fmtF(k.NegativeFrac), fmtF(k.MeanLossScore), strconv.Itoa(k.Caught), strconv.Itoa(k.Runs), opt(k.CatchWindow), opt(k.CatchEvals), fmtF(k.FinalBinary)})
	}
	w.Flush()
	return buf.Bytes()
}

var peerHeader = []string{"scenario", "seed", "window", "uid", "label", "kind", "param", "status", "loss_score", "own_improvement",
	"indicator", "binary", "mu", "sigma", "score", "weight", "flops"}

var globalHeader = []string{"scenario", "seed", "window", "test_loss", "gathered", "rated", "peer_flops", "validator_flops"}

func peersCSV(rows []PeerRow) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(peerHeader)
	for _, r := range rows {
		w.Write([]string{r.Scenario, strconv.FormatUint(r.Seed, 10), strconv.Itoa(r.Window), strconv.Itoa(r.UID), r.Label, string(r.Kind),
			fmtF(r.Param), r.Status, fmtF(r.LossScore), fmtF(r.OwnImprov), strconv.Itoa(r.Indicator), fmtF(r.Binary), fmtF(r.Mu),
			fmtF(r.Sigma), fmtF(r.Score), fmtF(r.Weight), fmtF(r.FLOPs)})
	}
	w.Flush()
	return buf.Bytes()
}

func globalCSV(rows []GlobalRow) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(globalHeader)
	for _, r := range rows {
		w.Write([]string{r.Scenario, strconv.FormatUint(r.Seed, 10), strconv.Itoa(r.Window), fmtF(r.TestLoss), strconv.Itoa(r.Gathered),
			strconv.Itoa(r.Rated), fmtF(r.PeerFLOPs), fmtF(r.ValidatorFLOPs)})
	}
	w.Flush()
	return buf.Bytes()
}

func (r *Report) write(out string) error {
	js, err := json.MarshalIndent(r.Summary, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"peers.csv":    peersCSV(r.Peers),
		"global.csv":   globalCSV(r.Global),
		"summary.md":   []byte(r.Summary.Markdown()),
		"summary.csv":  r.Summary.csv(),
		"summary.json": append(js, '\n'),
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := atomicfile.WriteFile(filepath.Join(out, n), files[n]); err != nil {
			return err
		}
	}
	return nil
}

// Provenance is provenance.json: what produced the results, and on what.
type Provenance struct {
	buildinfo.Header
	Spec     *Spec    `json:"spec"`
	SpecHash string   `json:"spec_hash"`
	Seeds    []uint64 `json:"seeds"`
	// Seeding: every random choice derives from data.SubSeed(seed, label, i).
	Seeding string `json:"seeding"`
	// Span's wall_s is of this invocation (a resumed run counts only its part).
	buildinfo.Span
	// FLOPs: peers' and validator's compute over every run (ledger; deterministic).
	PeerFLOPs      float64 `json:"peer_flops"`
	ValidatorFLOPs float64 `json:"validator_flops"`
}

func newProvenance(s *Spec, opt Options) *Provenance {
	return &Provenance{Header: buildinfo.NewHeader(opt.Version, opt.Command), Spec: s, SpecHash: s.Hash(), Seeds: s.Seeds,
		Seeding: "data.SubSeed(seed, label, i): init (W0), assign:<uid> (a peer's data, i = window), offdata:<uid>, " +
			"peer:<uid> (noise, copied victim), choose (validator's bin and peers), own-slice:<uid>, rand-slice:<uid>",
		Span: buildinfo.Span{Start: time.Now().UTC(), Machine: buildinfo.Host()}}
}

func (p *Provenance) finish(out string, r *Report) error {
	p.End = time.Now().UTC()
	p.WallS = p.End.Sub(p.Start).Seconds()
	for _, g := range r.Global {
		p.PeerFLOPs += g.PeerFLOPs
		p.ValidatorFLOPs += g.ValidatorFLOPs
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(out, "provenance.json"), append(b, '\n'))
}
