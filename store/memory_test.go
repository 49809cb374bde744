package store_test

import (
	"context"
	"sync"
	"testing"

	"apiscopes/store"
	"apiscopes/store/storetest"
)

// TestMemoryConformance runs the conformance suite on the memory engine,
// with several stores on one engine as replicas on one cluster.
func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) func(*testing.T) store.Engine {
			mem := store.NewMemory()
			return func(*testing.T) store.Engine { return &handle{Engine: mem} }
		},
		Shared: true,
	})
}

// handle is one opening of a shared memory engine: closing it closes
// neither the engine nor the other openings, as closing one client of a
// cluster leaves the cluster be.
type handle struct {
	store.Engine
	mu     sync.Mutex
	closed bool
	stops  []func()
}

func (h *handle) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *handle) Read(ctx context.Context, fn func(store.Snapshot) error) error {
	if h.isClosed() {
		return store.ErrClosed
	}
	return h.Engine.Read(ctx, fn)
}

func (h *handle) Commit(ctx context.Context, b *store.Batch) (uint64, error) {
	if h.isClosed() {
		return 0, store.ErrClosed
	}
	return h.Engine.Commit(ctx, b)
}

func (h *handle) Follow(after uint64, apply func(store.ChangeSet)) (func(), error) {
	if h.isClosed() {
		return nil, store.ErrClosed
	}
	stop, err := h.Engine.Follow(after, apply)
	if err == nil {
		h.mu.Lock()
		h.stops = append(h.stops, stop)
		h.mu.Unlock()
	}
	return stop, err
}

func (h *handle) Close() error {
	h.mu.Lock()
	h.closed = true
	stops := h.stops
	h.stops = nil
	h.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	return nil
}
