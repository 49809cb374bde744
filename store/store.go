// Package store keeps API apps, their keys and the audit trail in one bbolt
// file. Every change is a single transaction together with its audit record,
// checks the acting user's role, and never writes a key's text: only its
// SHA-256 digest and a short hint.
package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. The layout is part of the file format: change it only with a
// new schema version.
var (
	bucketMeta    = []byte("meta")
	bucketApps    = []byte("apps")     // app id → app record
	bucketNames   = []byte("names")    // folded app name → app id
	bucketKeys    = []byte("keys")     // key id → key record
	bucketDigests = []byte("digests")  // SHA-256 of key text → key id
	bucketAppKeys = []byte("app_keys") // app id ‖ key id → nothing
	bucketAudit   = []byte("audit")    // sequence → audit event

	metaSchema = []byte("schema")
	schemaV1   = []byte("apiscopes/1")
)

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time
	rand io.Reader
	feed feed

	wmu sync.Mutex // held by every writer from its transaction through the index change
	ix  *index

	usageMu     sync.Mutex // one flush of last-used times at a time
	usageWrites int        // key records written by flushes, for tests

	writeErrors atomic.Uint64 // writes the file system refused, for metrics

	stop      chan struct{} // closed by Close: ends the maintenance loop
	stopped   chan struct{} // closed by the maintenance loop when it ends
	closeOnce sync.Once
	closeErr  error
}

// Option configures Open.
type Option func(*options)

type options struct {
	now      func() time.Time
	rand     io.Reader
	timeout  time.Duration
	readOnly bool
	maintain time.Duration
}

// WithClock sets the clock used for created-on dates and audit times.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRandom sets the source of key secrets (crypto/rand unless testing).
func WithRandom(r io.Reader) Option { return func(o *options) { o.rand = r } }

// WithLockTimeout sets how long Open waits for another process to release
// the file before it gives up with a LockedError.
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// ReadOnly opens an existing database for reading only, as a backup does:
// the file is never written, and a missing file is an error rather than a
// new database. Every change fails with a WriteError.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// WithMaintenance sets how often the store writes coalesced last-used times
// and deletes rolled keys whose grace period has passed (30 s by default).
// Zero turns the background work off; Close still flushes last-used times.
func WithMaintenance(every time.Duration) Option { return func(o *options) { o.maintain = every } }

// Open opens or creates the database at path. A file held by another process
// fails within the lock timeout (one second by default) with a LockedError; a
// file that is not an apiscopes database fails with ErrNotDatabase, and one
// whose pages or indexes do not hold together with a DamageError (ErrDamaged).
// A refused file is left untouched: Open reads and checks all of it before
// its first write.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{now: time.Now, rand: rand.Reader, timeout: time.Second, maintain: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database folder: %w", err)
	}
	existed, err := existingFile(path)
	if err != nil {
		return nil, err
	}
	db, err := openBolt(path, &bolt.Options{Timeout: o.timeout, ReadOnly: o.readOnly})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, &LockedError{Path: path}
	case errors.Is(err, ErrDamaged):
		return nil, err
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum), tooSmall(err):
		return nil, fmt.Errorf("%s: %w (the file is damaged or belongs to another program; "+
			"choose another file with --db, or restore a backup)", path, ErrNotDatabase)
	case err != nil:
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{db: db, path: path, now: o.now, rand: &lockedReader{r: o.rand}, ix: newIndex(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.init(o.readOnly, existed); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.db.View(s.ix.load); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: read apps and keys: %w", path, err)
	}
	if o.readOnly {
		o.maintain = 0 // a read-only store writes nothing, not even last-used times
	} else if err := s.sweep(); err != nil { // rolled keys whose grace ended while no process held the file
		db.Close()
		return nil, fmt.Errorf("%s: delete rolled keys: %w", path, err)
	}
	go s.maintain(o.maintain)
	return s, nil
}

// openBolt is bolt.Open that survives a damaged file. bbolt panics on a
// damaged freelist page, which preflight refuses beforehand; should another
// page make it panic, the file is closed and the panic becomes a
// DamageError (bbolt's mapping of the file may then hold its lock until
// this process ends).
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	if err := preflight(path); err != nil {
		return nil, err
	}
	var file *os.File
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if name == path {
			file = f
		}
		return f, err
	}
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				file.Close()
			}
			db, err = nil, &DamageError{Path: path, Problems: []string{fmt.Sprintf("unreadable page: %v", r)}}
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// commit runs fn as one write transaction (see write) and then, only if it
// committed, apply, which brings the in-memory index in step. Writers take
// turns, so the index changes in the same order as the file.
func (s *Store) commit(fn func(tx *bolt.Tx) error, apply func()) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.write(fn); err != nil {
		return err
	}
	if apply != nil {
		apply()
	}
	return nil
}

// tooSmall reports bbolt's refusal of a file shorter than two of its pages,
// such as a few KiB of text. bbolt has no sentinel error for it, only this
// message.
func tooSmall(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "file size too small")
}

// init creates the buckets of a file Open made, refuses a bbolt file that
// some other program made or that has no buckets, and checks an existing
// one from end to end.
func (s *Store) init(readOnly, existed bool) error {
	foreign, fresh := false, false
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil { // a damaged root page: bbolt panics on the first read
				err = &DamageError{Path: s.path, Problems: []string{fmt.Sprintf("unreadable page: %v", r)}}
			}
		}()
		if m := tx.Bucket(bucketMeta); m != nil {
			if v := m.Get(metaSchema); string(v) != string(schemaV1) {
				return fmt.Errorf("%s: %w (schema %q; this apiscopes reads %q)", s.path, ErrNotDatabase, v, schemaV1)
			}
			return checkTx(s.path, tx, true)
		}
		fresh = true
		return tx.ForEach(func([]byte, *bolt.Bucket) error { foreign = true; return nil })
	})
	if err != nil {
		return err
	}
	if foreign {
		return fmt.Errorf("%s: %w (it holds another program's data; choose another file with --db)", s.path, ErrNotDatabase)
	}
	if !fresh {
		return nil
	}
	if readOnly || existed {
		return hollowError(s.path)
	}
	return s.write(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketApps, bucketNames, bucketKeys, bucketDigests, bucketAppKeys, bucketAudit} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaSchema, schemaV1)
	})
}

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

// write runs fn in a read-write transaction. An error fn returns (a refused
// name, a missing app) passes through as it is. An error of the transaction
// itself is the file system refusing the write (disk full, read-only) and
// becomes a WriteError. Either way bbolt rolled the transaction back.
func (s *Store) write(fn func(*bolt.Tx) error) error {
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	if err != nil && fnErr == nil {
		s.writeErrors.Add(1)
		return &WriteError{Path: s.path, Err: err}
	}
	return err
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close stops the background work, writes the last-used times not yet
// written, ends every change subscription and releases the file. Calling it
// again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.stopped
		var flushErr error
		if !s.db.IsReadOnly() { // a read-only store writes nothing, not even last-used times
			flushErr = s.flushUsage(true)
		}
		s.feed.closeAll()
		s.closeErr = errors.Join(flushErr, s.db.Close())
	})
	return s.closeErr
}

// DefaultPath is where the console keeps its database when --db is not
// given: $XDG_DATA_HOME/apiscopes/apiscopes.db, else under ~/.local/share.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the default database: %w; pass --db PATH", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "apiscopes", "apiscopes.db"), nil
}
