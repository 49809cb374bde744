// Package store is the domain of apiscopes: API apps, their keys and the
// audit trail, with the rules every change follows (names, roles, the key
// format and lifecycle, optimistic conflicts, one audit record per change),
// the in-memory verify index and the change feed. It keeps its records in
// an Engine (store/bolt for one file, store/etcd for a cluster) and never
// stores a key's text: only its SHA-256 digest and a short hint.
package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Store is an open database. It is safe for concurrent use.
type Store struct {
	eng      Engine
	name     string // the database as messages name it: a file, or a cluster
	clock    *clock
	rand     io.Reader
	readOnly bool
	feed     feed

	ix       *index
	applied  sync.Cond // signalled when the index applies a revision
	appliedM sync.Mutex
	unfollow func()

	gate gate // on a cluster: whether Verify may answer from memory (fresh.go)

	leads func() bool  // nil: this store does the housekeeping; else while it returns true
	log   *slog.Logger // what the store does by itself and cannot return: maintenance that failed
	swept bool         // the first sweep as leader went over everything

	writeMu     sync.Mutex // one change at a time from this process (see commitRule)
	usageMu     sync.Mutex // one flush of last-used times at a time
	usageWrites atomic.Int64

	writeErrors atomic.Uint64 // writes the file system refused, for metrics

	reloadMu    sync.Mutex  // guards the two below (apply.go's reload)
	reloadTimer *time.Timer // the retry of a reload that failed, pending
	reloadFails int         // reloads failed in a row

	checked    chan struct{} // closed once the check at open has ended (opencheck.go)
	checkErr   error         // how it ended, set before checked closes
	checkEnded chan struct{} // closed when a check in the background has returned
	abandon    chan struct{} // closed by Close to end a check whose passing it does not need

	stop      chan struct{} // closed by Close: ends the maintenance loop
	stopped   chan struct{} // closed by the maintenance loop when it ends
	closeOnce sync.Once
	closeErr  error
}

// Option configures New.
type Option func(*options)

type options struct {
	now      func() time.Time
	rand     io.Reader
	readOnly bool
	maintain time.Duration
	name     string
	preserve func() (string, error)
	maxStale time.Duration
	leads    func() bool
	log      *slog.Logger

	waitUpgrade bool      // WaitForUpgrade
	check       OpenCheck // WithOpenCheck
}

// WithLogger gives the store a logger for what it does by itself and so
// cannot return to a caller: a round of maintenance that failed (it is
// tried again on the next). Without one, such failures are not logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithHousekeeping makes the store delete rolled keys after their grace
// and sweep what deleted apps left only while leads says so: of replicas
// sharing a cluster, one does it (store/etcd's Lead). Last-used times are
// written by every replica, each for the checks it answered.
func WithHousekeeping(leads func() bool) Option { return func(o *options) { o.leads = leads } }

// WithClock sets the clock used for created-on dates, audit times and
// expiry (the system clock unless testing). An injected clock is read for
// every check, where the system clock is read a few times a second.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRandom sets the source of key secrets (crypto/rand unless testing).
func WithRandom(r io.Reader) Option { return func(o *options) { o.rand = r } }

// ReadOnly opens the database for reading only: nothing is ever written,
// not even last-used times or a migration, and every change fails with a
// WriteError.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// WithMaintenance sets how often the store writes coalesced last-used times
// and deletes rolled keys whose grace period has passed (30 s by default).
// Zero turns the background work off; Close still flushes last-used times.
func WithMaintenance(every time.Duration) Option { return func(o *options) { o.maintain = every } }

// WithName sets how messages name the database (its file, or its cluster).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithMigrationBackup sets what keeps a checked copy of the database before
// a migration to a newer schema changes it; it returns where the copy is.
// Without it, a database of an older schema is migrated with no copy.
func WithMigrationBackup(preserve func() (string, error)) Option {
	return func(o *options) { o.preserve = preserve }
}

// New opens the store on an engine: it creates the schema in an empty
// database, migrates an older one (writers only, after a checked copy),
// checks every record, loads the verify index and follows the engine's
// change stream. A database written by a newer apiscopes, or by another
// program, is refused and left as it is. Close the store to close the
// engine.
func New(eng Engine, opts ...Option) (*Store, error) {
	o := options{rand: rand.Reader, maintain: 30 * time.Second, name: "the database"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	s := &Store{eng: eng, name: o.name, clock: newClock(o.now), rand: &lockedReader{r: o.rand},
		readOnly: o.readOnly, ix: newIndex(), stop: make(chan struct{}), stopped: make(chan struct{}), log: o.log,
		checked: make(chan struct{}), checkEnded: make(chan struct{}), abandon: make(chan struct{})}
	s.applied.L = &s.appliedM
	later, err := s.prepare(o)
	if err != nil {
		s.clock.stop()
		eng.Close()
		return nil, err
	}
	if s.eng != eng { // a read-only look at an older schema, migrated in memory
		eng.Close()
	}
	if err := s.eng.Read(context.Background(), s.ix.load); err != nil {
		s.clock.stop()
		s.eng.Close()
		if errors.Is(err, errDamagedRecord) { // the load decodes every app and key
			return nil, &DamageError{Path: s.name, Problems: []string{"loading apps and keys: " + err.Error()}}
		}
		return nil, fmt.Errorf("%s: read apps and keys: %w", s.name, err)
	}
	unfollow, err := s.eng.Follow(s.ix.rev, s.apply)
	if err != nil {
		s.clock.stop()
		s.eng.Close()
		return nil, fmt.Errorf("%s: follow changes: %w", s.name, err)
	}
	s.unfollow = unfollow
	if s.readOnly {
		o.maintain = 0 // a read-only store writes nothing, not even last-used times
	} else if s.leads = o.leads; s.leads != nil {
		// a replica: the elected one sweeps, from its maintenance loop
	}
	if later {
		go s.checkBehind(true) // then the sweep, if the check passed
	} else {
		close(s.checkEnded)
		s.endCheck(nil)
		if !s.readOnly && s.leads == nil {
			if err := s.sweepAll(context.Background()); err != nil { // rolled keys whose grace ended while no process held the file
				close(s.stopped) // no maintenance runs yet: Close must not wait for it
				s.Close()
				return nil, fmt.Errorf("%s: delete rolled keys: %w", s.name, err)
			}
		}
	}
	if c, ok := s.eng.(Confirmer); ok && o.maxStale > 0 {
		s.watchFreshness(c, o.maxStale)
	}
	go s.maintain(o.maintain)
	return s, nil
}

// waitApplied returns once the index has applied revision rev: a writer's
// change is visible to Verify and to the feed before its call returns.
//
// The wait is bounded: should the stream not bring the change back (a
// cluster cut off just after the commit), the change is committed all the
// same, and the call returns after applyWait; the index follows when the
// stream does, and a replica that cannot confirm it is current answers
// unavailable meanwhile.
func (s *Store) waitApplied(rev uint64) {
	if s.ix.applied() >= rev {
		return
	}
	deadline := time.Now().Add(applyWait)
	t := time.AfterFunc(applyWait, func() {
		s.appliedM.Lock()
		s.applied.Broadcast()
		s.appliedM.Unlock()
	})
	defer t.Stop()
	s.appliedM.Lock()
	defer s.appliedM.Unlock()
	for s.ix.applied() < rev && time.Now().Before(deadline) {
		s.applied.Wait()
	}
}

// applyWait bounds how long a writer waits for its own change to come back
// through the change stream.
const applyWait = 10 * time.Second

// Close stops the background work, writes the last-used times not yet
// written, ends every change subscription and closes the engine. Calling it
// again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.stopped
		if s.readOnly || !s.writable() {
			close(s.abandon) // nothing to write: the check in the background gives way
		}
		// A writer waits for its check, to write the last-used times it
		// holds once the file is shown sound (at a million keys, up to a
		// minute after opening).
		<-s.checkEnded
		var flushErr error
		if !s.readOnly && s.writable() && s.checkPassed() {
			flushErr = s.flushUsage(context.Background(), true)
		}
		if s.unfollow != nil {
			s.unfollow()
		}
		s.feed.closeAll()
		s.clock.stop()
		s.closeErr = errors.Join(flushErr, s.eng.Close())
	})
	return s.closeErr
}

// Name is how messages name the database: its file or its cluster.
func (s *Store) Name() string { return s.name }

// Engine is the engine the store keeps its records in.
func (s *Store) Engine() Engine { return s.eng }

// Now is the store's clock: what it stamps changes with and judges expiry by.
func (s *Store) Now() time.Time { return s.clock.now() }

// lockedReader serializes reads of a random source, so that a Store stays
// safe for concurrent use with a source that is not (a seeded generator).
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// Maintain does the background work once, now: it writes the last-used
// times due to be written, deletes the rolled keys whose grace period has
// passed (each with its audit record), and removes the digest entries left
// behind by deleted apps, each job in changes small enough for any engine.
// The store runs it every WithMaintenance interval; with the interval at
// zero, the caller runs it when it likes. A read-only store does nothing.
func (s *Store) Maintain(ctx context.Context) error {
	if s.readOnly || !s.writable() || !s.checkPassed() { // nothing is written before the check passed
		return nil
	}
	return errors.Join(s.flushUsage(ctx, false), s.housekeep(ctx))
}

// maintain runs until Close, every interval doing Maintain's work. A
// failure is retried on the next round: neither job loses anything by
// waiting.
func (s *Store) maintain(every time.Duration) {
	defer close(s.stopped)
	if every <= 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Maintain(context.Background()); err != nil {
				s.log.Warn("maintenance failed; it is tried again", "db", s.name, "err", err, "next", every)
			}
		}
	}
}

// housekeep deletes rolled keys past their grace and sweeps, if this store
// does the housekeeping; a replica newly elected first goes over everything.
func (s *Store) housekeep(ctx context.Context) error {
	switch {
	case s.leads == nil:
		return s.sweep(ctx)
	case !s.leads():
		s.swept = false
		return nil
	case !s.swept:
		err := s.sweepAll(ctx)
		s.swept = err == nil
		return err
	}
	return s.sweep(ctx)
}
