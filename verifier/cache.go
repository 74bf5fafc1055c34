package verifier

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"pollab/autodiff"
	"pollab/internal/atomicfile"
)

// Cache holds re-execution results keyed by (manifest SHA-256, interval, env, hyperparameter
// mode, engine build), so that a δ x Q grid, several policies, or a killed-and-rerun verification
// re-execute each interval at most once. It lives in memory and, when given a directory,
// also on disk: one small JSON file per entry, written atomically (temp file, fsync,
// rename), read back on a miss. A corrupt or foreign file is a miss, never an error. Safe
// for concurrent use.
type Cache struct {
	mu  sync.Mutex
	mem map[string]reexecResult
	dir string
}

// NewCache returns a cache, persisted under dir when dir is not empty (created if needed).
func NewCache(dir string) (*Cache, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("re-execution cache %s: %w", dir, err)
		}
	}
	return &Cache{mem: map[string]reexecResult{}, dir: dir}, nil
}

// engineBuild is the engine build every re-execution key carries (a variable for tests).
var engineBuild = autodiff.ThisBuild().Key()

// cacheKey names one re-execution; the engine build is part of it, so a result computed by
// another engine semantics, BLAS or architecture is never reused.
func cacheKey(manifestSHA string, interval int, env Env, mode string) string {
	return fmt.Sprintf("pollab-reexec/2 %s interval=%d env=%s hparams=%s %s", manifestSHA, interval, env.String(), mode, engineBuild)
}

type cacheEntry struct {
	Key string `json:"key"`
	reexecResult
}

// maxCacheFile bounds what a cache file may hold (an entry is a few hundred bytes).
const maxCacheFile = 1 << 16

func (c *Cache) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:16])+".json")
}

func (c *Cache) get(key string) (reexecResult, bool) {
	c.mu.Lock()
	d, ok := c.mem[key]
	c.mu.Unlock()
	if ok || c.dir == "" {
		return d, ok
	}
	f, err := os.Open(c.path(key))
	if err != nil {
		return reexecResult{}, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCacheFile+1))
	if err != nil || len(b) > maxCacheFile {
		return reexecResult{}, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil || e.Key != key {
		return reexecResult{}, false
	}
	c.mu.Lock()
	c.mem[key] = e.reexecResult
	c.mu.Unlock()
	return e.reexecResult, true
}

func (c *Cache) put(key string, d reexecResult) error {
	c.mu.Lock()
	c.mem[key] = d
	c.mu.Unlock()
	if c.dir == "" {
		return nil
	}
	b, err := json.Marshal(cacheEntry{Key: key, reexecResult: d})
	if err != nil {
		return fmt.Errorf("re-execution cache: %w", err)
	}
	final := c.path(key)
	if err := atomicfile.WriteFile(final, b); err != nil {
		return fmt.Errorf("re-execution cache %s: %w", final, err)
	}
	return nil
}
