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

// gate is what Verify reads before it answers: one word, zero while it may
// answer from memory. On a cluster the freshness watcher sets gateStale
// while the engine cannot confirm the stream is current; gateNewer is set
// for good once the stream shows the database moved to a schema past this
// build's (schemagate.go).
type gate struct {
	shut   atomic.Uint32
	newer  atomic.Pointer[string] // the schema the database moved to, once it did
	behind atomic.Pointer[string] // WaitForUpgrade: the older schema the database is at, until upgraded
}

// The reasons the gate is shut, as bits of gate.shut.
const (
	gateStale   uint32 = 1 << iota // not confirmed current within the bound
	gateNewer                      // the database's schema moved past this build's
	gateDamaged                    // the check at open found the database damaged (opencheck.go)
)

// reason is the Decision's reason while the gate is shut with bits g.
func (g *gate) reason(bits uint32) Reason {
	if bits&gateDamaged != 0 {
		return Damaged
	}
	if bits&gateNewer != 0 {
		return UpgradeRequired
	}
	return Unavailable
}

// setStale sets or clears the staleness bit.
func (g *gate) setStale(stale bool) {
	if stale {
		g.shut.Or(gateStale)
	} else {
		g.shut.And(^gateStale)
	}
}

// watchFreshness keeps the gate's staleness in step with the engine until
// Close.
func (s *Store) watchFreshness(c Confirmer, bound time.Duration) {
	s.gate.setStale(!c.Current(bound))
	go func() {
		t := time.NewTicker(freshEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.gate.setStale(true)
				return
			case <-t.C:
				s.gate.setStale(!c.Current(bound))
			}
		}
	}()
}

// Ready reports whether the store can answer truthfully: it is open, on a
// cluster confirmed current within its bound, its database is of a schema
// it knows, and not found damaged (a check still running in the
// background does not make it unready: the index answers meanwhile).
func (s *Store) Ready() bool {
	return s.IsOpen() && s.gate.shut.Load() == 0
}
