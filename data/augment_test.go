package data

import (
	"slices"
	"testing"
)

// pattern is a 2×3×4 image whose pixel (c, y, x) holds 100c + 10y + x + 1 (never zero).
func pattern() ([]int, []float64) {
	shape := []int{2, 3, 4}
	x := make([]float64, 24)
	for c := range 2 {
		for y := range 3 {
			for xx := range 4 {
				x[c*12+y*4+xx] = float64(100*c + 10*y + xx + 1)
			}
		}
	}
	return shape, x
}

// at reads pixel (c, y, x) of the pattern, 0 outside the image (zero padding).
func at(c, y, x int) float64 {
	if y < 0 || y >= 3 || x < 0 || x >= 4 {
		return 0
	}
	return float64(100*c + 10*y + x + 1)
}

func TestCropFlipGeometry(t *testing.T) {
	const pad = 1
	for _, tc := range []struct {
		dy, dx int
		flip   bool
	}{{1, 1, false}, {0, 0, false}, {2, 2, false}, {0, 2, true}, {1, 1, true}, {2, 0, true}} {
		shape, x := pattern()
		cropFlip(shape, x, pad, tc.dy, tc.dx, tc.flip)
		for c := range 2 {
			for y := range 3 {
				for xx := range 4 {
					col := xx
					if tc.flip {
						col = 3 - xx // the flip mirrors the cropped image
					}
					want := at(c, y+tc.dy-pad, col+tc.dx-pad)
					if got := x[c*12+y*4+xx]; got != want {
						t.Errorf("dy=%d dx=%d flip=%v: pixel (%d,%d,%d) = %v, want %v", tc.dy, tc.dx, tc.flip, c, y, xx, got, want)
					}
				}
			}
		}
	}
	// Centered crop without flip is the identity; flipping twice is the identity.
	shape, x := pattern()
	_, orig := pattern()
	cropFlip(shape, x, 2, 2, 2, false)
	if !slices.Equal(x, orig) {
		t.Error("centered crop changed the image")
	}
	cropFlip(shape, x, 0, 0, 0, true)
	if x[0] != 4 || x[3] != 1 || x[12] != 104 {
		t.Errorf("flip: row 0 of channel 0 = %v, channel 1 starts %v", x[:4], x[12])
	}
	cropFlip(shape, x, 0, 0, 0, true)
	if !slices.Equal(x, orig) {
		t.Error("flip twice is not the identity")
	}
	// Shift down-right by one: first row and column become padding.
	cropFlip(shape, x, 1, 0, 0, false)
	if x[0] != 0 || x[3] != 0 || x[4] != 0 || x[5] != 1 || x[12+5] != 101 {
		t.Errorf("shift: got %v", x[:12])
	}
}

func TestAugmentDeterministicAndRandom(t *testing.T) {
	const pad = 2
	offsets := map[[2]int]bool{}
	flips := 0
	const seeds = 400
	for s := range uint64(seeds) {
		shape, a := pattern()
		_, b := pattern()
		Augment(shape, a, pad, s)
		Augment(shape, b, pad, s)
		if !slices.Equal(a, b) {
			t.Fatalf("seed %d: two runs differ", s)
		}
		dy, dx, flip := augParams(pad, s)
		if dy < 0 || dy > 2*pad || dx < 0 || dx > 2*pad {
			t.Fatalf("seed %d: offsets %d,%d outside [0,%d]", s, dy, dx, 2*pad)
		}
		_, c := pattern()
		cropFlip(shape, c, pad, dy, dx, flip)
		if !slices.Equal(a, c) {
			t.Fatalf("seed %d: Augment differs from its drawn crop/flip", s)
		}
		offsets[[2]int{dy, dx}] = true
		if flip {
			flips++
		}
	}
	if len(offsets) != 25 {
		t.Errorf("%d of 25 offset pairs drawn in %d seeds", len(offsets), seeds)
	}
	if flips < seeds/2-60 || flips > seeds/2+60 {
		t.Errorf("%d flips in %d seeds, want about half", flips, seeds)
	}
}

func TestAugmentNonImageIsNoop(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	for _, shape := range [][]int{{4}, {2, 2}, {1, 2, 3}} { // flat, 2-D, length mismatch
		y := slices.Clone(x)
		Augment(shape, y, 1, 3)
		if !slices.Equal(x, y) {
			t.Errorf("shape %v changed a non-image point: %v", shape, y)
		}
	}
}
