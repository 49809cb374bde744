package store

import (
	"sync/atomic"
	"time"
)

// Staleness: a store on an engine whose change stream can fall behind (a
// cluster) answers Verify from memory only while the engine confirms the
// stream is current within a bound. Past the bound, and until the first
// confirmation, every check is refused as Unavailable: never allowed on
// stale data, never unknown_key. It recovers by itself.

// Confirmer is an engine that can say whether its change stream lags the
// database by less than a bound (store/etcd's Engine).
type Confirmer interface {
	Current(maxStaleness time.Duration) bool
}

// WithMaxStaleness makes the store fail closed when its engine (a
// Confirmer) cannot confirm being current within d. Engines that are not
// Confirmers (one file, held by this process) are always current.
func WithMaxStaleness(d time.Duration) Option { return func(o *options) { o.maxStale = d } }

// freshEvery is how often the store asks its engine whether it is current:
// Verify then reads one atomic flag.
const freshEvery = 50 * time.Millisecond

// gate keeps the freshness flag Verify reads.
type gate struct {
	on    bool        // the engine can fall behind: Verify looks at fresh
	fresh atomic.Bool // confirmed current within the bound
}

// watchFreshness keeps s.gate.fresh in step with the engine until Close.
func (s *Store) watchFreshness(c Confirmer, bound time.Duration) {
	s.gate.on = true
	s.gate.fresh.Store(c.Current(bound))
	go func() {
		t := time.NewTicker(freshEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.gate.fresh.Store(false)
				return
			case <-t.C:
				s.gate.fresh.Store(c.Current(bound))
			}
		}
	}()
}

// Ready reports whether the store can answer truthfully: it is open and,
// on a cluster, confirmed current within its bound.
func (s *Store) Ready() bool {
	return s.IsOpen() && (!s.gate.on || s.gate.fresh.Load())
}
