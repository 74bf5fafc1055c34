package verifier

import (
	"strings"
	"testing"

	"pollab/autodiff"
	"pollab/proof"
)

func TestCalibrationCheckSetup(t *testing.T) {
	h := proof.Hyper{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4}
	m := proof.NewManifest("mlp:16-8-4:relu", "synthetic:n=128,dim=16,classes=4,seed=7", autodiff.Float32, h)
	base := Calibration{Model: m.Model, Dataset: m.Dataset.Name, DType: "f32", Optimizer: "sgd", Hyper: h}
	if err := base.CheckSetup(m); err != nil {
		t.Fatalf("same setup: %v", err)
	}
	old := base
	old.Optimizer = "" // files written before the optimizer was recorded mean sgd
	old.Hyper.Gamma = 0.5
	if err := old.CheckSetup(m); err != nil {
		t.Errorf("no optimizer recorded, gamma without milestones: %v", err)
	}
	for name, edit := range map[string]func(c *Calibration){
		"model":      func(c *Calibration) { c.Model = "lenet5" },
		"dataset":    func(c *Calibration) { c.Dataset = "mnist" },
		"dtype":      func(c *Calibration) { c.DType = "f64" },
		"optimizer":  func(c *Calibration) { c.Optimizer = "adam" },
		"lr":         func(c *Calibration) { c.Hyper.LR = 0.01 },
		"milestones": func(c *Calibration) { c.Hyper.Milestones = []int{5} },
	} {
		c := base
		edit(&c)
		err := c.CheckSetup(m)
		if err == nil || !strings.Contains(err.Error(), c.Setup()) || !strings.Contains(err.Error(), ManifestSetup(m)) {
			t.Errorf("%s differs: %v, want an error naming both setups", name, err)
		}
	}
}
