package data

import "testing"

func TestLoadMNIST(t *testing.T) {
	for _, tc := range []struct {
		split     Split
		n, label0 int
	}{{Train, 60000, 5}, {Test, 10000, 7}} {
		d, err := Load("mnist", tc.split)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != tc.n || d.Label(0) != tc.label0 {
			t.Errorf("mnist %v: %d points, first label %d; want %d, %d", tc.split, d.Len(), d.Label(0), tc.n, tc.label0)
		}
		if d.Dim() != 784 || d.Classes != 10 || d.Name != "mnist" {
			t.Errorf("mnist %v: dim %d classes %d name %q", tc.split, d.Dim(), d.Classes, d.Name)
		}
	}
}
