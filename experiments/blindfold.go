package experiments

import (
	"errors"

	"pollab/attacks"
	"pollab/verifier"
)

// newBlindfold builds the Blindfold Top-Q spoofer for job j.
func newBlindfold(a *AttackSpec, j *proofJob, dref *verifier.Distances, seed uint64) (attacks.Attack, error) {
	return nil, errors.New("blindfold: the attack package has not landed yet")
}
