package verifier

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"pollab/internal/atomicfile"
	"pollab/proof"
	"pollab/stats"
)

// CalibrationFormat names the d_ref file format.
const CalibrationFormat = "pollab-calibration/1"

// Calibration is d_ref: the distance between the final weights of two honest runs of one
// configuration that differ only in their seed, with that configuration. Normalised
// thresholds are fractions of it.
type Calibration struct {
	Format  string `json:"format"`
	Model   string `json:"model"`
	Dataset string `json:"dataset"`
	DType   string `json:"dtype"`
	// Optimizer is the runs' optimizer, as a manifest names it ("sgd"); files written before
	// it was recorded lack it and mean "sgd", the only optimizer pollab has had.
	Optimizer string          `json:"optimizer,omitempty"`
	Hyper     proof.Hyper     `json:"hyper"`
	Batch     int             `json:"batch"`
	Epochs    int             `json:"epochs"`
	Steps     int             `json:"steps"`
	Seeds     [2]uint64       `json:"seeds"`
	DRef      stats.Distances `json:"dref"`
}

// maxCalibrationBytes bounds a calibration file (it is a few hundred bytes).
const maxCalibrationBytes = 1 << 20

// LoadCalibration reads and checks a calibration file: the format, and every d_ref value
// finite and positive (a zero reference would make every normalised distance infinite).
func LoadCalibration(path string) (*Calibration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCalibrationBytes+1))
	if err != nil {
		return nil, fmt.Errorf("calibration %s: %w", path, err)
	}
	if len(b) > maxCalibrationBytes {
		return nil, fmt.Errorf("calibration %s: larger than %d bytes", path, maxCalibrationBytes)
	}
	var c Calibration
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("calibration %s: %w", path, err)
	}
	if c.Format != CalibrationFormat {
		return nil, fmt.Errorf("calibration %s: format %q, want %q", path, c.Format, CalibrationFormat)
	}
	for _, m := range stats.Metrics {
		v, _ := c.DRef.Get(m)
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("calibration %s: d_ref %s = %g, want a finite positive distance", path, m, v)
		}
	}
	return &c, nil
}

// calibratedOptimizer is c.Optimizer with the default of files that lack it.
func (c *Calibration) calibratedOptimizer() string {
	if c.Optimizer == "" {
		return "sgd"
	}
	return c.Optimizer
}

// Setup describes what d_ref depends on and a proof must share for d_ref to normalise its
// distances: model, dataset, dtype and optimizer (name and hyperparameters).
func (c *Calibration) Setup() string {
	return describeSetup(c.Model, c.Dataset, c.DType, c.calibratedOptimizer(), c.Hyper)
}

// ManifestSetup is Setup for the run a manifest claims.
func ManifestSetup(m *proof.Manifest) string {
	return describeSetup(m.Model, m.Dataset.Name, m.DType, m.Optimizer.Name, m.Hyper())
}

// describeSetup renders a setup canonically: two setups are the same exactly when their
// descriptions are equal. Gamma is left out when there are no milestones (it is unused).
func describeSetup(model, dataset, dtype, optimizer string, h proof.Hyper) string {
	g := ""
	if len(h.Milestones) > 0 {
		g = fmt.Sprintf(" milestones %v gamma %g", h.Milestones, h.Gamma)
	}
	return fmt.Sprintf("%s on %s, %s, %s(lr %g momentum %g weight_decay %g%s)",
		model, dataset, dtype, optimizer, h.LR, h.Momentum, h.WeightDecay, g)
}

// CheckSetup returns an error naming both setups when the calibration was made under
// another model, dataset, dtype or optimizer than the proof's manifest claims, nil when
// they agree.
func (c *Calibration) CheckSetup(m *proof.Manifest) error {
	if cs, ms := c.Setup(), ManifestSetup(m); cs != ms {
		return fmt.Errorf("d_ref was calibrated for %s, the proof is %s", cs, ms)
	}
	return nil
}

// Save writes the calibration atomically (no partial file under path).
func (c *Calibration) Save(path string) error {
	c.Format = CalibrationFormat
	if err := atomicfile.WriteJSON(path, c); err != nil {
		return fmt.Errorf("calibration %s: %w", path, err)
	}
	return nil
}
