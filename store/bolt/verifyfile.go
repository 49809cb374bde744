package bolt

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime/debug"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// VerifyFile answers verify from the database file at path, for a command
// that found no process holding it: bbolt opens the file read-only, under
// the shared lock that other readers share and a writer's lock excludes,
// and one read transaction finds the key's digest entry, its record and
// its app's record (store.VerifySnapshot), never the whole file. A
// read-only open maps the file without reading it (the pages a lookup
// touches are read as it touches them) and loads no freelist, so the
// lookup costs about the same in a file of any size (docs/performance.md).
// It neither creates nor writes the file, and notes no use of the key. An
// unknown scope or a malformed key is refused without opening the file.
//
// A file another process holds fails at once with an error matching
// store.ErrLocked (the caller then asks the holder). bbolt's verdict on a
// damaged file is an error, never a crash: a panic, or a fault on the
// mapped file, becomes a store.DamageError.
func VerifyFile(path, key string, scope scopes.ID, client netip.Addr, now time.Time) (d store.Decision, err error) {
	if !scopes.Known(scope) || store.CheckKey(key) != nil {
		return store.VerifySnapshot(nil, key, scope, client, now)
	}
	if fi, err := os.Stat(path); err != nil {
		return d, err
	} else if !fi.Mode().IsRegular() {
		return d, notAFile(path, fi.Mode())
	} else if fi.Size() == 0 {
		return d, fmt.Errorf("%s: %w: the file is empty (0 bytes); %s", path, store.ErrNotDatabase, store.HollowAdvice)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			d, err = store.Decision{Scope: scope}, &store.DamageError{Path: path, Problems: []string{fmt.Sprintf("unreadable page: %v", r)}}
		}
	}()
	// A single try at the lock: a held file is for the holder to answer.
	// Without the whole page check: the store's own check runs on the
	// records the lookup reads.
	e, err := Open(path, Options{ReadOnly: true, SkipPageCheck: true, Timeout: time.Nanosecond})
	if err != nil {
		return d, err
	}
	d, err = ReadDecision(e, key, scope, client, now)
	if cerr := e.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: %w", path, cerr)
	}
	return d, err
}

// ReadDecision is store.VerifySnapshot on one snapshot of an open engine:
// it notes no use of the key (a holder answers with it while its store opens).
func ReadDecision(e *Engine, key string, scope scopes.ID, client netip.Addr, now time.Time) (d store.Decision, err error) {
	return readDecision(e, scope, func(snap store.Snapshot) (store.Decision, error) {
		return store.VerifySnapshot(snap, key, scope, client, now)
	})
}

// ReadDecisionDigest is ReadDecision for a key known by its digest alone
// (store.VerifySnapshotDigest).
func ReadDecisionDigest(e *Engine, digest [32]byte, scope scopes.ID, client netip.Addr, now time.Time) (store.Decision, error) {
	return readDecision(e, scope, func(snap store.Snapshot) (store.Decision, error) {
		return store.VerifySnapshotDigest(snap, digest, scope, client, now)
	})
}

func readDecision(e *Engine, scope scopes.ID, decide func(store.Snapshot) (store.Decision, error)) (d store.Decision, err error) {
	err = e.Read(context.Background(), func(snap store.Snapshot) (err error) {
		d, err = decide(snap)
		return err
	})
	if err != nil {
		var damage *store.DamageError
		if !errors.As(err, &damage) {
			err = fmt.Errorf("%s: %w", e.Path(), err)
		}
		return store.Decision{Scope: scope}, err
	}
	return d, nil
}
