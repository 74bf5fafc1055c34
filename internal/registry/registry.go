// Package registry is the lab's one plug-in mechanism: values (an attack kind, a check kind, a
// model family, a figure) registered by name, usually from the init function of the file that
// defines them, then looked up by name and listed. It imports nothing of pollab.
package registry

import (
	"slices"
	"sync"
)

// Registry holds the values of one kind of plug-in by name; the zero value is not usable (New).
type Registry[T any] struct {
	what   string // names the registry in panics ("attacks", "models", ...)
	mu     sync.RWMutex
	byName map[string]T
	order  []string
}

// New is an empty registry; what names it in the panic of a bad registration.
func New[T any](what string) *Registry[T] {
	return &Registry[T]{what: what, byName: map[string]T{}}
}

// Register adds v under name. An empty or taken name panics: a programming error, found when
// the program starts.
func (r *Registry[T]) Register(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		panic(r.what + ": registration without a name")
	}
	if _, dup := r.byName[name]; dup {
		panic(r.what + ": " + name + " registered twice")
	}
	r.byName[name] = v
	r.order = append(r.order, name)
}

// Lookup returns the value registered under name.
func (r *Registry[T]) Lookup(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.byName[name]
	return v, ok
}

// Names lists the registered names in registration order.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.order)
}

// Sorted lists the registered names in lexical order.
func (r *Registry[T]) Sorted() []string {
	return slices.Sorted(slices.Values(r.Names()))
}

// All lists the registered values in registration order.
func (r *Registry[T]) All() []T {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]T, len(r.order))
	for i, n := range r.order {
		out[i] = r.byName[n]
	}
	return out
}

// Remove takes name out of the registry: for a test that registers a plug-in for its own
// duration only.
func (r *Registry[T]) Remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byName, name)
	r.order = slices.DeleteFunc(r.order, func(n string) bool { return n == name })
}
