package models

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// A model family registered by name is what Parse builds; the lab's own are registered the
// same way, and an unknown name lists them.
func TestRegistry(t *testing.T) {
	if slices.Contains(Names(), "twin-mlp") { // -count > 1
		return
	}
	Register("twin-mlp", func(parts []string, kaiming bool) (Model, error) {
		// A family defined by another: "twin-mlp:W" is the MLP W-W-W with ReLU.
		if len(parts) != 2 {
			return nil, errors.New("twin-mlp spec needs one width: twin-mlp:W")
		}
		spec := "mlp:" + parts[1] + "-" + parts[1] + "-" + parts[1] + ":relu"
		if kaiming {
			spec += ":kaiming"
		}
		return Parse(spec)
	})
	m, err := Parse("twin-mlp:4:kaiming")
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec() != "mlp:4-4-4:relu:kaiming" || m.NumParams() != 2*(4*4+4) {
		t.Errorf("twin-mlp:4:kaiming built %s with %d parameters", m.Spec(), m.NumParams())
	}
	if _, err := Parse("twin-mlp"); err == nil {
		t.Error("a bad spec of a registered family was accepted")
	}
	_, err = Parse("resnet9000")
	if err == nil || !strings.Contains(err.Error(), "want mlp, lenet5, cnn-cifar, resnet, resnet20 or twin-mlp") {
		t.Errorf("unknown family: %v", err)
	}
	if m, err := Parse("mlp:08-4:tanh"); err != nil || m.Spec() != "mlp:8-4:tanh" {
		t.Errorf("canonical spec of mlp:08-4:tanh: %v, %v", m, err)
	}
}
