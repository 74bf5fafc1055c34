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
