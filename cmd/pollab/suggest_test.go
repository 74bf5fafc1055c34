package main

import (
	"strings"
	"testing"
)

// TestMistypedCommandsSuggest: a mistyped command or attack is one line naming the closest
// command, exit 2; a command that needs a subcommand fails without one; help still works.
func TestMistypedCommandsSuggest(t *testing.T) {
	sb := newSandbox(t, pollabBinary(t))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"trian"}, exitBadInput, `unknown command "trian"; did you mean "train"?`},
		{[]string{"verfiy", "x"}, exitBadInput, `did you mean "verify"?`},
		{[]string{"attack", "zhangg", "--target", "x"}, exitBadInput, `unknown attack subcommand "zhangg"; did you mean "zhang"?`},
		{[]string{"attack", "blindfod"}, exitBadInput, `did you mean "blindfold"?`},
		{[]string{"attack"}, exitBadInput, "attack: missing subcommand: one of blindfold, infinitesimal, zhang"},
		{[]string{"xyzzy"}, exitBadInput, "unknown command \"xyzzy\"; one of "},
		{[]string{"attack", "--help"}, exitOK, ""},
		{[]string{"help", "train"}, exitOK, ""},
	} {
		r := sb.run(tc.args...)
		msg := checkOneLine(t, tc.args, r, tc.code)
		if tc.want != "" && !strings.Contains(msg, tc.want) {
			t.Errorf("%v: %q, want it to contain %q", tc.args, msg, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"attack", "calibrate", "demo", "figures", "inspect", "sweep", "train", "verify"}
	for in, want := range map[string]string{"trian": "train", "verfy": "verify", "figure": "figures", "calib": "calibrate",
		"Train": "train", "xyzzy": "", "do": ""} {
		if got := closest(in, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCheckpointIntervalLongerThanTheRun: k > T is refused (exit 2, one line) instead of a
// proof holding W0 and W_T only.
func TestCheckpointIntervalLongerThanTheRun(t *testing.T) {
	sb := newSandbox(t, pollabBinary(t))
	out := t.TempDir()
	// 72 points at batch 8: 9 steps per epoch, 18 in two epochs.
	args := []string{"train", "--model", longModel, "--dataset", longDataset, "--epochs", "2", "--batch", "8", "--lr", "0.1", "--k", "19", "--out", out + "/p"}
	msg := checkOneLine(t, args, sb.run(args...), exitBadInput)
	if !strings.Contains(msg, "--k 19 exceeds the run's 18 steps") {
		t.Errorf("k > T: %q", msg)
	}
}
