package gauntlet

import (
	"fmt"
	"math"
	"sort"

	"pollab/internal/detmath"
)

// Rating is one peer's OpenSkill belief: skill ~ N(Mu, Sigma²).
type Rating struct {
	Mu    float64 `json:"mu"`
	Sigma float64 `json:"sigma"`
}

// Ordinal is the conservative skill mu − z·sigma that Templar's weights use (z = 3).
func (r Rating) Ordinal(z float64) float64 { return r.Mu - float64(z*r.Sigma) }

// PlackettLuce is openskill's Weng–Lin Plackett–Luce model (Algorithm 4) for one-player teams
// rated with scores, as Templar calls it: `PlackettLuce(beta=7, tau=0.1)`,
// `rate(teams, scores=...)`.
type PlackettLuce struct {
	Mu0, Sigma0 float64 // a new peer's rating
	Beta, Tau   float64 // performance noise; additive dynamics, sigma² += tau² before each update
	Kappa       float64 // floor of the sigma shrink factor
	Z           float64 // ordinal = mu − Z·sigma
	// ZeroQuirk reproduces openskill.py's `ranks[i] or i` (openskill.js ≤ 4's `rank[i] || i`):
	// after sorting, a rank of exactly 0 (a score of exactly 0) is replaced by its sorted
	// position, which ties that peer with the next-ranked one below it. openskill.js 5 uses
	// `rank[i] ?? i` and keeps a score of 0 as a score like any other (ZeroQuirk false).
	ZeroQuirk bool
}

// TemplarModel is the model Templar's validator builds: beta 7, tau 0.1, mu0 25, sigma0 25/3,
// kappa 1e-4, ordinal mu − 3 sigma, with openskill.py's zero-score quirk.
func TemplarModel() PlackettLuce {
	return PlackettLuce{Mu0: 25, Sigma0: 25.0 / 3, Beta: 7, Tau: 0.1, Kappa: 1e-4, Z: 3, ZeroQuirk: true}
}

// NewRating is a new peer's rating.
func (m PlackettLuce) NewRating() Rating { return Rating{Mu: m.Mu0, Sigma: m.Sigma0} }

// Rate returns the ratings after one game in which player i scored scores[i] (higher is
// better, equal scores share a rank). The inputs are not modified. Non-finite scores or
// ratings, or a length mismatch, are errors.
func (m PlackettLuce) Rate(ratings []Rating, scores []float64) ([]Rating, error) {
	n := len(ratings)
	if len(scores) != n {
		return nil, fmt.Errorf("openskill: %d ratings but %d scores", n, len(scores))
	}
	for i := range n {
		r, s := ratings[i], scores[i]
		if !finite(r.Mu) || !finite(r.Sigma) || r.Sigma <= 0 || !finite(s) {
			return nil, fmt.Errorf("openskill: player %d: rating (%v, %v) score %v not finite and positive-sigma", i, r.Mu, r.Sigma, s)
		}
	}
	if n == 0 {
		return nil, nil
	}
	// Additive dynamics, then order the players by rank = −score (stable, as sort-unwind).
	mu := make([]float64, n)
	sig2 := make([]float64, n)
	rank := make([]float64, n)
	order := make([]int, n)
	for i := range n {
		order[i] = i
		rank[i] = -scores[i]
	}
	sort.SliceStable(order, func(a, b int) bool { return rank[order[a]] < rank[order[b]] })
	for j, i := range order {
		s := math.Sqrt(float64(ratings[i].Sigma*ratings[i].Sigma) + float64(m.Tau*m.Tau))
		mu[j], sig2[j] = ratings[i].Mu, s*s
	}
	// Competition ranks over the sorted order (ties share the first index of their group).
	teamScore := make([]float64, n)
	for j, i := range order {
		teamScore[j] = rank[i]
		if m.ZeroQuirk && teamScore[j] == 0 {
			teamScore[j] = float64(j)
		}
	}
	r := make([]int, n)
	for j := 1; j < n; j++ {
		r[j] = r[j-1]
		if teamScore[j-1] < teamScore[j] {
			r[j] = j
		}
	}
	c2 := 0.0
	for j := range n {
		c2 += sig2[j] + float64(m.Beta*m.Beta)
	}
	c := math.Sqrt(c2)
	sumQ := make([]float64, n)
	a := make([]float64, n)
	for q := range n {
		for i := range n {
			if r[i] >= r[q] {
				sumQ[q] += detmath.Exp(mu[i] / c)
			}
			if r[i] == r[q] {
				a[q]++
			}
		}
	}
	out := make([]Rating, n)
	for j := range n {
		e := detmath.Exp(mu[j] / c)
		omega, delta := 0.0, 0.0
		for q := range n {
			if r[q] > r[j] {
				continue
			}
			p := e / sumQ[q]
			if q == j {
				omega += (1 - p) / a[q]
			} else {
				omega += -p / a[q]
			}
			delta += p * (1 - p) / a[q]
		}
		gamma := math.Sqrt(sig2[j]) / c
		sigma := math.Sqrt(sig2[j])
		out[order[j]] = Rating{
			Mu:    mu[j] + float64(omega*(sig2[j]/c)),
			Sigma: sigma * math.Sqrt(math.Max(1-float64(delta*(sig2[j]/(c*c))*gamma), m.Kappa)),
		}
	}
	return out, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
