package stats

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Distances can be NaN or infinite (a diverging re-execution, mismatched vectors), which
// encoding/json refuses; they are written as the strings "NaN", "+Inf", "-Inf" instead.

type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(math.IsNaN(v) || math.IsInf(v, 0)) {
			return fmt.Errorf("distance %q: want a number, NaN, +Inf or -Inf", s)
		}
		*f = jsonFloat(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

type distancesJSON struct {
	L1   jsonFloat `json:"l1"`
	L2   jsonFloat `json:"l2"`
	Linf jsonFloat `json:"linf"`
	Cos  jsonFloat `json:"cos"`
}

// MarshalJSON writes the four metrics, non-finite values as strings.
func (d Distances) MarshalJSON() ([]byte, error) {
	return json.Marshal(distancesJSON{jsonFloat(d.L1), jsonFloat(d.L2), jsonFloat(d.Linf), jsonFloat(d.Cos)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Distances) UnmarshalJSON(b []byte) error {
	var j distancesJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = Distances{float64(j.L1), float64(j.L2), float64(j.Linf), float64(j.Cos)}
	return nil
}
