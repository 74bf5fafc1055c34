package proof

import (
	"strings"
	"testing"
)

func TestCheckSchedule(t *testing.T) {
	for _, c := range []struct {
		rule                string
		steps, epochs, b, n int
		want                string // "" accepted, else part of the error
	}{
		{"", 937, 2, 128, 60000, ""}, // MNIST: floor(2·60000/128) = 937
		{ScheduleEpochs, 937, 2, 128, 60000, ""},
		{ScheduleEpochs, 938, 2, 128, 60000, "give floor(E·N/B) = 937 steps, the manifest claims 938"},
		{ScheduleEpochs, 200, 3, 10, 500, "3 epochs of 500 points at batch 10 give floor(E·N/B) = 150"},
		{ScheduleEpochs, 1, 3, 16, 10, ""},                             // batch above N: floor(30/16) = 1
		{SchedulePrefix, 1, 3, 16, 10, "claims 3 epochs (1 < T <= 1)"}, // 2 epochs already hold it
		{SchedulePrefix, 1, 1, 16, 10, "claims 1 epochs (0 < T <= 0)"},
		{SchedulePrefix, 1, 2, 16, 10, ""},
		{SchedulePrefix, 469, 2, 128, 60000, ""}, // 468 < 469 <= 937
		{SchedulePrefix, 468, 2, 128, 60000, "(468 < T <= 937)"},
		{SchedulePrefix, 937, 2, 128, 60000, ""},
		{"zhang", 10, 1, 1, 10, `schedule "zhang": want "pol" or "pol-prefix"`},
		{"", 10, 0, 1, 10, "epochs 0, batch 1 and dataset size 10 must be positive"},
		{"", 10, 1 << 40, 1, 10, "epochs at most"},
	} {
		err := CheckSchedule(c.rule, c.steps, c.epochs, c.b, c.n)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want %q", c, err, c.want)
		}
	}
}

// The state before the first update has all-zero momentum buffers: the writer refuses
// others, and the reader rejects a step-0 checkpoint that has them.
func TestStepZeroMomentumMustBeZero(t *testing.T) {
	dir := t.TempDir()
	f := smallFixture
	w, err := Create(dir, fixtureManifest(f))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	model := w.ctx.model
	c := &Checkpoint{Step: 0, LR: 0.1, Params: make([]float64, model.NumParams()), Momentum: make([]float64, model.NumParams())}
	c.Momentum[3] = 1e-300
	if err := w.WriteCheckpoint(c); err == nil || !strings.Contains(err.Error(), "momentum buffers must be zero") {
		t.Errorf("writing non-zero step-0 momentum: %v", err)
	}
	l := checkpointLayout{model: model, dtype: f.dtype, momentum: true}
	var buf strings.Builder
	c.Momentum[3] = 0
	if err := encodeCheckpoint(&buf, l, c); err != nil {
		t.Fatal(err)
	}
	raw := []byte(buf.String())
	if _, err := decodeCheckpoint(raw, l, model.Spec(), 0); err != nil {
		t.Fatalf("zero buffers at step 0: %v", err)
	}
	// Flip the last momentum value (the buffer ends with momentum tensors of the same size
	// as their parameters, f64 here) to a non-zero one, as a hostile writer would.
	raw[len(raw)-2] = 0x10
	if _, err := decodeCheckpoint(raw, l, model.Spec(), 0); err == nil || !strings.Contains(err.Error(), "at step 0") {
		t.Errorf("non-zero step-0 momentum read back: %v", err)
	}
}
