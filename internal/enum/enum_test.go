package enum

import "testing"

type color int

var colors = Table[color]{Type: "color", What: "colour", Want: "red|green",
	Values: []Value[color]{V[color](0, "red", "r"), V[color](1, "green")}}

func TestParseAndString(t *testing.T) {
	for _, c := range []struct {
		in   string
		want color
	}{{"red", 0}, {" R ", 0}, {"GREEN", 1}} {
		if got, err := colors.Parse(c.in); err != nil || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := colors.Parse("blue"); err == nil || err.Error() != `colour "blue": want red|green` {
		t.Errorf("Parse(blue) error = %v", err)
	}
	for v, want := range map[color]string{0: "red", 1: "green", 7: "color(7)"} {
		if got := colors.String(v); got != want {
			t.Errorf("String(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestFold(t *testing.T) {
	up := Table[uint8]{Type: "V", What: "v", Want: "I", Fold: func(s string) string { return s + "!" },
		Values: []Value[uint8]{V[uint8](1, "I")}}
	if _, err := up.Parse("i"); err == nil {
		t.Error("a case-sensitive fold accepted i for I")
	}
	if v, err := up.Parse("I"); err != nil || v != 1 {
		t.Errorf("Parse(I) = %v, %v", v, err)
	}
}

func TestChoice(t *testing.T) {
	for in, want := range map[string]string{"": "min-p", "  ": "min-p", " holm ": "holm", "min-p": "min-p"} {
		if got, err := Choice("correction", in, "min-p", "holm"); err != nil || got != want {
			t.Errorf("Choice(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Choice("correction", " Holm ", "min-p", "holm"); err == nil || err.Error() != `correction "Holm": want min-p or holm` {
		t.Errorf("Choice(Holm) error = %v", err)
	}
}
