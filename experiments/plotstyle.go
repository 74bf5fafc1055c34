package experiments

import (
	"fmt"
	"hash/fnv"
	"image/color"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Style sizes a figure for where it is shown: the width it is placed at and the font sizes
// that stay legible at that width. Sizes are print sizes (points); PNGs are rasterised at
// pngDPI.
type Style struct {
	Name string
	// Width is a full-width figure's width; SingleWidth a one-panel figure's.
	Width, SingleWidth vg.Length
	// MaxCols is the most panels side by side; PanelAspect a panel's height over its width.
	MaxCols     int
	PanelAspect float64
	// Font sizes.
	Title, Label, Tick, Legend vg.Length
	// Line width and marker radius of data series.
	Line, Marker vg.Length
}

// DefaultStyle is the style figures are drawn in unless one is asked for.
const DefaultStyle = "paper-2col"

// styles: a two-column paper's full text width (7 in), one column (3.4 in), a 16:9 slide
// (10 in wide, placed at that width).
var styles = []Style{
	{Name: "paper-2col", Width: 504, SingleWidth: 312, MaxCols: 4, PanelAspect: 0.72,
		Title: 8.5, Label: 8, Tick: 7, Legend: 7.5, Line: 1, Marker: 2.2},
	{Name: "paper-1col", Width: 245, SingleWidth: 245, MaxCols: 2, PanelAspect: 0.8,
		Title: 7, Label: 7, Tick: 6, Legend: 6.5, Line: 0.8, Marker: 1.8},
	{Name: "slides", Width: 720, SingleWidth: 540, MaxCols: 3, PanelAspect: 0.62,
		Title: 15, Label: 14, Tick: 12, Legend: 13, Line: 2, Marker: 3.5},
}

// StyleNames lists the styles by name.
func StyleNames() []string {
	var out []string
	for _, s := range styles {
		out = append(out, s.Name)
	}
	return out
}

// StyleNamed returns the named style ("" means DefaultStyle).
func StyleNamed(name string) (Style, error) {
	if name == "" {
		name = DefaultStyle
	}
	for _, s := range styles {
		if s.Name == name {
			return s, nil
		}
	}
	return Style{}, fmt.Errorf("unknown figure style %q (have %s)", name, strings.Join(StyleNames(), ", "))
}

// seriesStyle is how one series looks: colour names the attack or env, the marker repeats
// it in black and white, the dash pattern separates honest (dashed) from forged (solid).
// scale shrinks the marker (series drawn later in a panel get smaller hollow markers, so a
// curve drawn over an identical one leaves the first one's marker visible around it).
type seriesStyle struct {
	color  color.Color
	shape  draw.GlyphDrawer
	dashes []vg.Length
	scale  float64
}

func rgb(v uint32) color.Color {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

var (
	dashed       = []vg.Length{vg.Points(3), vg.Points(1.5)}
	dotted       = []vg.Length{vg.Points(1), vg.Points(1.2)}
	dashDot      = []vg.Length{vg.Points(4), vg.Points(1.5), vg.Points(1), vg.Points(1.5)}
	dashPatterns = [][]vg.Length{nil, dashed, dotted, dashDot}
)

// kindStyles fix one colour and marker per proof kind, the same in every figure and every
// run (Okabe-Ito colours, which stay apart for colour-blind readers; the markers, all
// different, carry the distinction in greyscale). Forgeries are solid, honest proofs dashed.
var kindStyles = map[string]seriesStyle{
	KindHonest:        {color: rgb(0x000000), shape: draw.RingGlyph{}, dashes: dashed},
	KindBlindfold:     {color: rgb(0x0072B2), shape: draw.CircleGlyph{}},
	KindInfinitesimal: {color: rgb(0xE69F00), shape: draw.BoxGlyph{}},
	"zhang-I":         {color: rgb(0x009E73), shape: draw.PyramidGlyph{}},
	"zhang-II":        {color: rgb(0xD55E00), shape: draw.CrossGlyph{}},
	"zhang-III":       {color: rgb(0xCC79A7), shape: draw.PlusGlyph{}},
}

// envStyles fix one colour and hollow marker per reproduction env, disjoint from the kinds'
// colours; an env with a parameter (microbatch:M, noise:SIGMA) is looked up by its full name
// first, then by its family.
var envStyles = map[string]seriesStyle{
	"exact":      {color: rgb(0x000000), shape: draw.RingGlyph{}},
	"dtype":      {color: rgb(0x56B4E9), shape: draw.SquareGlyph{}},
	"microbatch": {color: rgb(0x8C510A), shape: draw.TriangleGlyph{}},
	"augment":    {color: rgb(0x7F7F7F), shape: draw.BoxGlyph{}},
	"noise:0.1":  {color: rgb(0xB8A000), shape: draw.CrossGlyph{}},
	"noise":      {color: rgb(0x5D3A9B), shape: draw.PlusGlyph{}},
}

// measuredStyle draws honest re-executions measured by another implementation (solid: they
// are not one of pollab's simulated envs), in a colour no kind or env uses.
var measuredStyle = seriesStyle{color: rgb(0xE7298A), shape: draw.PyramidGlyph{}}

// fallbackStyles serve kinds and envs without a fixed style, chosen by a hash of the name so
// that the choice does not depend on which other kinds or envs a CSV holds.
var fallbackStyles = []seriesStyle{
	{color: rgb(0x01665E), shape: draw.CircleGlyph{}},
	{color: rgb(0x8E0152), shape: draw.BoxGlyph{}},
	{color: rgb(0x4D4D4D), shape: draw.PyramidGlyph{}},
	{color: rgb(0x762A83), shape: draw.CrossGlyph{}},
}

func fallbackStyle(name string) seriesStyle {
	h := fnv.New32a()
	h.Write([]byte(name))
	return fallbackStyles[h.Sum32()%uint32(len(fallbackStyles))]
}

// kindStyle is the kind's fixed style.
func kindStyle(kind string) seriesStyle {
	if st, ok := kindStyles[kind]; ok {
		return st
	}
	return fallbackStyle("kind " + kind)
}

// envStyle is the env's fixed style (solid line; callers drawing honest error dash it).
func envStyle(env string) seriesStyle {
	if st, ok := envStyles[env]; ok {
		return st
	}
	family, _, _ := strings.Cut(env, ":")
	if st, ok := envStyles[family]; ok {
		return st
	}
	return fallbackStyle("env " + env)
}

// orderedColors are for ordered quantities (verifier Q, audit counts): a dark-to-light
// sequence (viridis), so their order reads in greyscale too.
var orderedColors = []color.Color{rgb(0x440154), rgb(0x3B528B), rgb(0x21918C), rgb(0x5EC962)}

// orderedStyle is the i-th of n ordered curves: colour and dash pattern by rank, hollow
// markers shrinking with i, so curves that coincide stay visible as nested markers.
func orderedStyle(i int) seriesStyle {
	shapes := []draw.GlyphDrawer{draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CircleGlyph{}}
	return seriesStyle{color: orderedColors[i%len(orderedColors)], shape: shapes[i%len(shapes)],
		dashes: dashPatterns[i%len(dashPatterns)], scale: max(0.45, 1.6-0.35*float64(i))}
}
