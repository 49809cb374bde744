// Package bolt is the embedded engine of apiscopes: the store's tables as
// buckets of one bbolt file. It adds what only a file has: one process at a
// time (a lock with a timeout), a check of the file's pages, a refusal of
// damaged or foreign files that leaves them untouched, consistent hot
// copies (bbolt's tx.WriteTo) for backups, and a point lookup in a free
// file (VerifyFile) that reads a few of its pages rather than mapping it.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"apiscopes/store"
)

// Engine is an open database file. It implements store.Engine.
type Engine struct {
	db       *bbolt.DB
	path     string
	readOnly bool

	wasOpen os.FileMode // the mode a MakePrivate open found, if it let others in
	privErr error       // why it could not make the file private

	mu      sync.Mutex // one commit at a time, and its followers called in order
	follows map[int]func(store.ChangeSet)
	next    int
	closed  bool
	log     []store.ChangeSet // the latest change sets, for a follower that starts behind
}

// followLog is how many change sets the engine keeps for a follower that
// starts behind; one further behind is sent a Resync.
const followLog = 64

// Options configure Open.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file before it fails with a store.LockedError (one second if zero).
	Timeout time.Duration
	// ReadOnly opens an existing file for reading only: it is never
	// written, and a missing file is an error rather than a new database.
	ReadOnly bool
	// SkipPageCheck leaves out bbolt's check of every page at open, for a
	// quick look at one record (the store's own check still runs on what
	// it reads).
	SkipPageCheck bool
	// NoSync leaves out the file system sync of each commit: a crash of
	// the machine may then lose recent changes or damage the file. It is
	// only for databases nobody needs afterwards (tests of the rules).
	NoSync bool
	// MakePrivate makes the file private to its owner (0600) once it is
	// known to be an apiscopes database, through the open file, never
	// through its path (see Engine.MadePrivate). Writers set it.
	MakePrivate bool
}

// The engine keeps its revision in a bucket of its own, outside the
// store's tables: every commit adds one, so a snapshot knows which commit
// it shows.
var (
	engineBucket = []byte("engine")
	revisionKey  = []byte("revision")
)

// Open opens or creates the database file at path. A file held by another
// process fails within the timeout with a store.LockedError; a file that
// is not an apiscopes database fails with store.ErrNotDatabase, and one
// whose pages do not hold together with a store.DamageError. A refused file
// is left untouched.
func Open(path string, o Options) (*Engine, error) {
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database folder: %w", err)
	}
	if err := checkRegular(path); err != nil {
		return nil, err
	}
	existed, err := existingFile(path)
	if err != nil {
		return nil, err
	}
	db, file, err := openBolt(path, &bbolt.Options{Timeout: o.Timeout, ReadOnly: o.ReadOnly, NoSync: o.NoSync})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, &store.LockedError{Path: path}
	case errors.Is(err, store.ErrDamaged), errors.Is(err, store.ErrNotDatabase):
		return nil, err
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum), tooSmall(err):
		return nil, fmt.Errorf("%s: %w (the file is damaged or belongs to another program; "+
			"choose another file with --db, or restore a backup)", path, store.ErrNotDatabase)
	case err != nil:
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	e := &Engine{db: db, path: path, readOnly: o.ReadOnly, follows: map[int]func(store.ChangeSet){}}
	if err := e.refuseForeign(existed || o.ReadOnly); err != nil {
		db.Close()
		return nil, err
	}
	if !o.SkipPageCheck {
		if err := e.CheckMedium(); err != nil {
			db.Close()
			return nil, err
		}
	}
	if o.MakePrivate && !o.ReadOnly {
		e.makePrivate(file)
	}
	return e, nil
}

// makePrivate makes the open database file private to its owner when its
// group or others may read or write it: it holds every key's digest and the
// audit trail. apiscopes makes its files private, but a copy, a restore or
// a umask may have widened one. It works on the open file, which is known
// to be an apiscopes database by now, so neither a mistyped --db nor a link
// can lead it to another file.
func (e *Engine) makePrivate(f *os.File) {
	if f == nil {
		return
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	e.wasOpen, e.privErr = fi.Mode().Perm(), f.Chmod(0o600)
}

// MadePrivate reports the mode a MakePrivate open found when it let group
// or others in (0 if it did not), and the error of making it 0600, if
// any: the caller warns about either.
func (e *Engine) MadePrivate() (was os.FileMode, err error) { return e.wasOpen, e.privErr }

// openBolt is bbolt.Open that survives a damaged file. bbolt panics on a
// damaged freelist page, which preflight refuses beforehand; should another
// page make it panic, the file is closed and the panic becomes a
// DamageError (bbolt's mapping of the file may then hold its lock until
// this process ends).
func openBolt(path string, o *bbolt.Options) (db *bbolt.DB, file *os.File, err error) {
	if err := preflight(path); err != nil {
		return nil, nil, err
	}
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := openRegular(name, flag, perm)
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
			db, file, err = nil, nil, damaged(path, r)
		}
	}()
	db, err = bbolt.Open(path, 0o600, o)
	return db, file, err
}

func damaged(path string, r any) error {
	return &store.DamageError{Path: path, Problems: []string{fmt.Sprintf("unreadable page: %v", r)}}
}

// tooSmall reports bbolt's refusal of a file shorter than two of its pages,
// such as a few KiB of text. bbolt has no sentinel error for it, only this
// message.
func tooSmall(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "file size too small")
}

// refuseForeign refuses a bbolt file that another program made (one with
// buckets but none of ours), and, when the file was there before, one with
// no bucket at all: a database is never made in a file that existed.
func (e *Engine) refuseForeign(existed bool) error {
	foreign, hollow := false, true
	err := e.view(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(store.TableMeta)) != nil {
			hollow = false
			return nil
		}
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			hollow = false
			if !ours(name) {
				foreign = true
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if hollow && existed {
		return hollowError(e.path)
	}
	if foreign {
		return fmt.Errorf("%s: %w (it holds another program's data; choose another file with --db)", e.path, store.ErrNotDatabase)
	}
	return nil
}

// ours reports whether a bucket is one apiscopes makes: a table of either
// schema, or the engine's own.
func ours(name []byte) bool {
	switch n := string(name); {
	case n == string(engineBucket), n == "app_keys":
		return true
	default:
		for _, t := range store.Tables {
			if n == string(t) {
				return true
			}
		}
	}
	return false
}

// view runs fn in a read transaction, turning a panic of a damaged page
// into a DamageError.
func (e *Engine) view(fn func(*bbolt.Tx) error) (err error) {
	return e.db.View(func(tx *bbolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = damaged(e.path, r)
			}
		}()
		return fn(tx)
	})
}

// update runs fn in a write transaction, turning a panic of a damaged page
// (bbolt's freelist panics on a page freed twice) into a DamageError:
// bbolt rolls the transaction back as the panic passes, so nothing of it
// is written and the file stays open.
func (e *Engine) update(fn func(*bbolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(e.path, r)
		}
	}()
	return e.db.Update(fn)
}

// Path is the database file.
func (e *Engine) Path() string { return e.path }

// Read implements store.Engine.
func (e *Engine) Read(_ context.Context, fn func(store.Snapshot) error) error {
	return e.view(func(tx *bbolt.Tx) error { return fn(snapshot{tx}) })
}

type snapshot struct{ tx *bbolt.Tx }

func (s snapshot) Revision() uint64 {
	if m := s.tx.Bucket(engineBucket); m != nil {
		if v := m.Get(revisionKey); len(v) == 8 {
			return beUint64(v)
		}
	}
	return 0
}

func (s snapshot) Get(t store.Table, key []byte) ([]byte, error) {
	b := s.tx.Bucket([]byte(t))
	if b == nil {
		return nil, nil
	}
	if v := b.Get(key); v != nil {
		return bytes.Clone(v), nil
	}
	return nil, nil
}

func (s snapshot) Scan(t store.Table, prefix []byte, o store.ScanOptions, fn func(k, v []byte) error) error {
	b := s.tx.Bucket([]byte(t))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	step := c.Next
	if !o.Reverse {
		start := prefix
		if o.From != nil && bytes.Compare(o.From, prefix) > 0 {
			start = o.From
		}
		k, v = c.Seek(start)
	} else {
		step = c.Prev
		k, v = lastBefore(c, prefix, o.From)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = step() {
		if err := fn(k, v); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// lastBefore positions c at the last key with prefix, and before from if
// from is set: a reverse scan's first entry.
func lastBefore(c *bbolt.Cursor, prefix, from []byte) ([]byte, []byte) {
	end := prefixEnd(prefix) // nil: no key sorts after the prefix's keys
	if from != nil && (end == nil || bytes.Compare(from, end) < 0) {
		end = from
	}
	if end == nil {
		return c.Last()
	}
	if k, _ := c.Seek(end); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// prefixEnd is the first key after every key with prefix, or nil if none.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Commit implements store.Engine: the conditions are checked and the
// operations applied in one bbolt transaction, and every follower is given
// the change set before Commit returns.
func (e *Engine) Commit(_ context.Context, b *store.Batch) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, store.ErrClosed
	}
	var cs store.ChangeSet
	var stale bool
	err := e.update(func(tx *bbolt.Tx) error {
		cs = store.ChangeSet{}
		for _, c := range b.Conds {
			var v []byte
			if bk := tx.Bucket([]byte(c.Table)); bk != nil {
				v = bk.Get(c.Key)
			}
			if c.Value == nil && v != nil || c.Value != nil && !bytes.Equal(v, c.Value) {
				stale = true
				return store.ErrStale
			}
		}
		for _, op := range b.Ops {
			bk, err := tx.CreateBucketIfNotExists([]byte(op.Table))
			if err != nil {
				return err
			}
			if appended(op.Table) {
				bk.FillPercent = appendedFill
			}
			switch op.Kind {
			case store.OpPut:
				if err := bk.Put(op.Key, op.Value); err != nil {
					return err
				}
				cs.Changes = append(cs.Changes, store.Change{Table: op.Table, Key: bytes.Clone(op.Key), Value: bytes.Clone(op.Value)})
			case store.OpDelete:
				if bk.Get(op.Key) == nil {
					continue
				}
				if err := bk.Delete(op.Key); err != nil {
					return err
				}
				cs.Changes = append(cs.Changes, store.Change{Table: op.Table, Key: bytes.Clone(op.Key)})
			case store.OpDeletePrefix:
				var gone [][]byte
				c := bk.Cursor()
				for k, _ := c.Seek(op.Key); k != nil && bytes.HasPrefix(k, op.Key); k, _ = c.Next() {
					gone = append(gone, bytes.Clone(k))
				}
				for _, k := range gone {
					if err := bk.Delete(k); err != nil {
						return err
					}
					cs.Changes = append(cs.Changes, store.Change{Table: op.Table, Key: k})
				}
			}
		}
		eb, err := tx.CreateBucketIfNotExists(engineBucket)
		if err != nil {
			return err
		}
		rev := snapshot{tx}.Revision() + 1
		cs.Revision = rev
		return eb.Put(revisionKey, beBytes(rev))
	})
	switch {
	case stale:
		return 0, store.ErrStale
	case errors.Is(err, store.ErrDamaged):
		return 0, err
	case err != nil:
		return 0, &store.WriteError{Path: e.path, Err: err}
	}
	e.log = append(e.log, cs)
	if len(e.log) > 2*followLog {
		e.log = slices.Clone(e.log[len(e.log)-followLog:])
	}
	for _, apply := range e.follows {
		apply(cs)
	}
	return cs.Revision, nil
}

// BatchLimits implements store.BatchLimiter: a file takes changes far
// larger than a cluster's transaction, so that a commit's two syncs are
// paid once for thousands of records. Not much larger: a change rewrites
// every page it touches, and the pages it frees are reused only by the
// changes after it, so one that touched most of a table's pages (new
// keys' digests land all over theirs) would grow the file by that table.
func (e *Engine) BatchLimits() (ops, bytes int) { return 10_000, 4 << 20 }

// appended reports whether new records of t mostly go after every record
// it holds: ids from a counter, in order. bbolt splits a page it filled
// at half its size, for records that land anywhere; records that land at
// the end would leave every page they fill half empty, which a change of
// thousands of them (a bulk load) does to all of its pages.
func appended(t store.Table) bool {
	return t == store.TableAudit || t == store.TableApps || t == store.TableKeys || t == store.TableSigned
}

// appendedFill is how full a page of an appended table is filled before it
// is split.
const appendedFill = 0.9

// Follow implements store.Engine. Only this process writes the file while
// it holds it, so every change set is one of its own commits, delivered
// from within Commit; a follower that starts behind is first given the
// change sets it missed, or a Resync if they are no longer kept.
func (e *Engine) Follow(after uint64, apply func(store.ChangeSet)) (func(), error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, store.ErrClosed
	}
	var rev uint64
	if err := e.view(func(tx *bbolt.Tx) error { rev = snapshot{tx}.Revision(); return nil }); err != nil {
		return nil, err
	}
	if after < rev {
		if len(e.log) == 0 || e.log[0].Revision > after+1 {
			apply(store.ChangeSet{Revision: rev, Resync: true})
		} else {
			for _, cs := range e.log {
				if cs.Revision > after {
					apply(cs)
				}
			}
		}
	}
	id := e.next
	e.next++
	e.follows[id] = apply
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.follows, id)
			e.mu.Unlock()
		})
	}, nil
}

// CheckMedium runs bbolt's check of every page (reachable or free, none
// twice). Every page is read first under recover, since a damaged page
// makes bbolt panic on a read and bbolt's check runs in a goroutine of its
// own that cannot be recovered.
func (e *Engine) CheckMedium() error {
	return e.view(func(tx *bbolt.Tx) error {
		if err := tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(_, _ []byte) error { return nil })
		}); err != nil {
			return err
		}
		var problems []string
		for err := range tx.Check() {
			if len(problems) < 20 {
				problems = append(problems, "bbolt: "+err.Error())
			}
		}
		if len(problems) > 0 {
			return &store.DamageError{Path: e.path, Problems: problems}
		}
		return nil
	})
}

// WriteBackup writes a consistent copy of the whole file to w from one read
// transaction (bbolt's tx.WriteTo): writers go on meanwhile, and the copy is
// the database as it was when the backup began.
func (e *Engine) WriteBackup(w io.Writer) (n int64, err error) {
	err = e.db.View(func(tx *bbolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Close implements store.Engine.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.follows = map[int]func(store.ChangeSet){}
	return e.db.Close()
}

func beBytes(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
