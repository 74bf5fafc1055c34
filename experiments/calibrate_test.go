package experiments

import (
	"testing"

	"pollab/stats"
)

// calibrate computes d_ref from the two calibration seeds' final weights at the first k and
// then releases every honest proof's final weights, so a long run does not hold them.
func TestCalibrateUsesThenDropsFinalWeights(t *testing.T) {
	const model = "mlp:2-2:relu"
	spec := &Spec{Models: []string{model}, Train: TrainSpec{K: []int{5, 10}},
		Verify: VerifySpec{CalibrationSeeds: []uint64{1, 2}}}
	job := func(seed uint64, k int, final ...float64) *proofJob {
		return &proofJob{model: canonicalModel(model), seed: seed, k: k, info: &proofInfo{final: final}}
	}
	honest := []*proofJob{
		job(1, 5, 0, 0, 0, 0, 0, 0),
		job(2, 5, 3, 4, 0, 0, 0, 1),
		job(1, 10, 9, 9, 9, 9, 9, 9), // another k: not a calibration proof
		job(3, 5, 7, 7, 7, 7, 7, 7),  // not a calibration seed
	}
	want := stats.Distance(honest[0].info.final, honest[1].info.final)
	r := &runner{spec: spec, dref: map[string]stats.Distances{}}
	if err := r.calibrate(honest); err != nil {
		t.Fatal(err)
	}
	if got := r.dref[canonicalModel(model)]; got != want || want.L1 != 8 {
		t.Errorf("d_ref %+v, want %+v (l1 8)", got, want)
	}
	for i, j := range honest {
		if j.info.final != nil {
			t.Errorf("honest job %d still holds its final weights after calibration", i)
		}
	}
}
