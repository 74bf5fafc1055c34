package data

// Augment applies the per-step data augmentation to one point x of the given per-point shape,
// in place: for images (len(shape) == 3, channels-first C×H×W) a random crop from the image
// zero-padded by pad pixels on every side (offsets dy, dx uniform in [0, 2·pad], so pad = 0
// never shifts), then a horizontal flip with probability 1/2, the same crop and flip for all
// channels (torchvision's RandomCrop(padding=pad) then RandomHorizontalFlip). The random
// draws come from NewPCG(seed) in the order dy, dx, flip (uniform below 2·pad+1, 2·pad+1 and
// 2), so the result is a pure function of (shape, x, pad, seed).
//
// Points that are not images (len(shape) != 3, e.g. the flat synthetic vectors) are left
// unchanged, as is x when its length does not match shape: there is no geometry to augment.
func Augment(shape []int, x []float64, pad int, seed uint64) {
	if !isImage(shape, x) {
		return
	}
	dy, dx, flip := augParams(pad, seed)
	cropFlip(shape, x, max(pad, 0), dy, dx, flip)
}

// isImage reports whether shape is C×H×W with positive dimensions matching len(x).
func isImage(shape []int, x []float64) bool {
	if len(shape) != 3 {
		return false
	}
	c, h, w := shape[0], shape[1], shape[2]
	return c > 0 && h > 0 && w > 0 && c*h*w == len(x)
}

// augParams draws the crop offsets and flip decision for one step.
func augParams(pad int, seed uint64) (dy, dx int, flip bool) {
	pad = max(pad, 0)
	src := NewPCG(seed)
	span := uint64(2*pad + 1)
	dy = int(uniformBelow(src, span))
	dx = int(uniformBelow(src, span))
	flip = uniformBelow(src, 2) == 1
	return dy, dx, flip
}

// cropFlip writes, for every channel, out[y][x] = padded[y+dy][x+dx] where padded is the image
// surrounded by pad zero pixels, then mirrors each row when flip is set.
func cropFlip(shape []int, x []float64, pad, dy, dx int, flip bool) {
	c, h, w := shape[0], shape[1], shape[2]
	plane := make([]float64, h*w)
	for ch := range c {
		img := x[ch*h*w : (ch+1)*h*w]
		copy(plane, img)
		for y := range h {
			sy := y + dy - pad
			row := img[y*w : (y+1)*w]
			for xx := range w {
				sx := xx + dx - pad
				if flip {
					// Flipping after the crop reads the cropped pixel at column w-1-xx.
					sx = (w - 1 - xx) + dx - pad
				}
				if sy < 0 || sy >= h || sx < 0 || sx >= w {
					row[xx] = 0
				} else {
					row[xx] = plane[sy*w+sx]
				}
			}
		}
	}
}
