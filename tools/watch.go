package tools

import "sync"

// watchers are the functions OnChange registered; a Registry holds one.
type watchers struct {
	mu  sync.Mutex
	fns []func()
}

// OnChange registers f to be called after every Register, Remove and Swap,
// outside the registry's lock (f may call List or Get). Servers that
// publish the tool list (the MCP server's notifications/tools/list_changed)
// use it. f must not block for long: it runs on the caller of the change.
func (r *Registry) OnChange(f func()) {
	r.watch.mu.Lock()
	defer r.watch.mu.Unlock()
	r.watch.fns = append(r.watch.fns, f)
}

// changed calls the watchers; Register, Remove and Swap defer it before
// taking the lock, so it runs after the lock is released.
func (r *Registry) changed() {
	r.watch.mu.Lock()
	fns := append([]func(){}, r.watch.fns...)
	r.watch.mu.Unlock()
	for _, f := range fns {
		f()
	}
}
