package experiments

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"pollab/internal/atomicfile"
)

// writeFileAtomic is atomicfile.WriteFile under the name the figure code calls.
var writeFileAtomic = atomicfile.WriteFile

// readJSON decodes name into v.
func readJSON(name string, v any) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	return nil
}

// ReadRunReport reads the run.json a Run left in out.
func ReadRunReport(out string, rep *Report) error { return readJSON(filepath.Join(out, RunJSON), rep) }
