package attacks

// LinePoint writes W0 + i·(WT − W0)/t into dst (len(w0)), the i-th of t equal steps on the
// straight line from w0 to wT. i == t gives wT exactly (bit for bit), so a forged proof's last
// checkpoint is the stolen model itself; i == 0 gives w0.
func LinePoint(w0, wT []float64, i, t int, dst []float64) {
	switch {
	case i == t:
		copy(dst, wT)
		return
	case i == 0:
		copy(dst, w0)
		return
	}
	s := float64(i) / float64(t)
	for j := range dst {
		dst[j] = w0[j] + float64(s*(wT[j]-w0[j]))
	}
}

// Line is the straight line W0 → WT with its direction precomputed, so a point costs one
// multiply-add per parameter (2 FLOPs) instead of three operations.
type Line struct {
	W0, WT, Dir []float64
}

// NewLine precomputes Dir = WT − W0 (one subtraction per parameter).
func NewLine(w0, wT []float64) *Line {
	dir := make([]float64, len(w0))
	for j := range dir {
		dir[j] = wT[j] - w0[j]
	}
	return &Line{W0: w0, WT: wT, Dir: dir}
}

// At writes the point at fraction i/t of the line into dst, with the endpoints exact.
func (l *Line) At(i, t int, dst []float64) {
	switch {
	case i == t:
		copy(dst, l.WT)
		return
	case i == 0:
		copy(dst, l.W0)
		return
	}
	s := float64(i) / float64(t)
	for j := range dst {
		dst[j] = l.W0[j] + float64(s*l.Dir[j])
	}
}

// PointFLOPs is what At costs for n parameters: one multiply and one add each.
func PointFLOPs(n int) float64 { return 2 * float64(n) }
