package experiments

import (
	"fmt"
	"slices"
	"strings"
)

// DiffResults compares two results CSVs (.gz aware) in every column but cost_wall_s, the one
// column two runs of a spec may differ in (wall time): "" when they agree, else the first
// difference. A local run and a Slurm run of one spec agree.
func DiffResults(a, b string) (string, error) {
	ra, err := ReadCSVFile(a)
	if err != nil {
		return "", err
	}
	rb, err := ReadCSVFile(b)
	if err != nil {
		return "", err
	}
	if len(ra) != len(rb) {
		return fmt.Sprintf("%d rows in %s, %d in %s", len(ra), a, len(rb), b), nil
	}
	checks := checkColumns()
	for i := range ra {
		ra[i].CostWallS, rb[i].CostWallS = 0, 0
		if x, y := ra[i].record(checks), rb[i].record(checks); !slices.Equal(x, y) {
			return fmt.Sprintf("row %d: %s\nvs %s", i+1, strings.Join(x, ","), strings.Join(y, ",")), nil
		}
	}
	return "", nil
}
