package verifier

import (
	"testing"

	"pollab/stats"
)

// TestCacheKeyCarriesTheEngineBuild: a re-execution cached by one engine build (semantics,
// BLAS, GOARCH) is a miss for another, in memory and on disk, and a hit for the same.
func TestCacheKeyCarriesTheEngineBuild(t *testing.T) {
	dir := t.TempDir()
	saved := engineBuild
	t.Cleanup(func() { engineBuild = saved })
	c, err := NewCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Name: "exact"}
	if err := c.put(cacheKey("abc", 3, env, "trust-checkpoint"), reexecResult{Raw: stats.Distances{L2: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.get(cacheKey("abc", 3, env, "trust-checkpoint")); !ok {
		t.Fatal("same build: miss")
	}
	engineBuild = "semantics=999 blas=x goarch=y"
	fresh, err := NewCache(dir) // on disk only
	if err != nil {
		t.Fatal(err)
	}
	for name, cache := range map[string]*Cache{"in memory": c, "on disk": fresh} {
		if _, ok := cache.get(cacheKey("abc", 3, env, "trust-checkpoint")); ok {
			t.Errorf("%s: an entry of another engine build was reused", name)
		}
	}
}
