package experiments

import (
	"pollab/attacks"
	"pollab/attacks/blindfold"
	"pollab/stats"
)

// newBlindfold builds Fang et al.'s Blindfold Top-Q spoofer for job j: Epochs claimed
// epochs (0: the target's), Q genuine intervals each, gaps within the normalised l2 delta.
func newBlindfold(a *AttackSpec, j *proofJob, dref *stats.Distances, seed uint64) (attacks.Attack, error) {
	b, err := attacks.NewBudget(stats.MetricL2, j.attackDelta, dref)
	if err != nil {
		return nil, err
	}
	epochs := a.Epochs
	if epochs == 0 {
		epochs = j.target.honest.Epochs
	}
	return &blindfold.Attack{Config: blindfold.Config{Epochs: epochs, Q: a.Q, K: j.k, SpoofSteps: a.SpoofSteps,
		Budget: b, Seed: seed, InterpLR: a.Interp}}, nil
}
