package zhang

import (
	"errors"
	"fmt"
	"pollab/internal/enum"
	"strings"

	"pollab/proof"
)

// Variant selects the target gradient g* of the crafted batches.
type Variant int

const (
	// VariantI aims every step at the next point of the fine straight line: step s of the
	// forged run should land on W'0 + (s+1)/T'·(W_T - W'0).
	VariantI Variant = iota + 1
	// VariantII cancels the drift inside the interval: every step aims back at the
	// interval's start checkpoint, so the replay stays there and ends one line step
	// (|W_T - W'0|/t) from the next checkpoint.
	VariantII
	// VariantIII matches g* = 0 (zero-gradient points): the replay should not move at all.
	VariantIII
)

// ParseVariant accepts "I", "II", "III" (or 1, 2, 3).
func ParseVariant(s string) (Variant, error) { return variants.Parse(s) }

// String is the Roman numeral.
func (v Variant) String() string { return variants.String(v) }

var variants = enum.Table[Variant]{Type: "Variant", What: "variant", Want: "I, II or III", Fold: strings.ToUpper,
	Values: []enum.Value[Variant]{enum.V(VariantI, "I", "1"), enum.V(VariantII, "II", "2"), enum.V(VariantIII, "III", "3")}}

// Published defaults per variant (Zhang et al. and their reference code): L-BFGS
// iterations N and the weight λ of |r|².
func (v Variant) defaultIters() int {
	if v == VariantI {
		return 100
	}
	return 10
}

func (v Variant) defaultLambda() float64 {
	if v == VariantIII {
		return 0.1
	}
	return 1
}

// landingGradient writes into gstar the gradient g that makes one SGD step (torch.optim.SGD
// as prover.Stepper runs it) go from w to aim, given the momentum buffer buf (nil without
// momentum) and the step's learning rate lr:
//
//	d = g + wd·w;  buf' = mu·buf + d;  w' = w - lr·buf'   (w' = w - lr·d without momentum)
//
// so w' = aim needs buf' = (w - aim)/lr, that is g* = (w - aim)/lr - mu·buf - wd·w.
func landingGradient(gstar, w, aim, buf []float64, lr float64, h proof.Hyper) error {
	if !(lr > 0) {
		return fmt.Errorf("landing gradient: learning rate %v: a step with lr <= 0 cannot move", lr)
	}
	if len(w) != len(gstar) || len(aim) != len(gstar) {
		return errors.New("landing gradient: vectors of different lengths")
	}
	if h.Momentum != 0 && len(buf) != len(gstar) {
		return fmt.Errorf("landing gradient: momentum %g needs a buffer of %d values, have %d", h.Momentum, len(gstar), len(buf))
	}
	for i := range gstar {
		g := (w[i]-aim[i])/lr - float64(h.WeightDecay*w[i])
		if h.Momentum != 0 {
			g -= float64(h.Momentum * buf[i])
		}
		gstar[i] = g
	}
	return nil
}
