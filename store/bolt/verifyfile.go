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
// that found no process holding it. It reads the file under a shared lock,
// which other commands share and which it holds for one lookup: the key's
// digest entry, its record and its app's record (store.VerifySnapshot),
// never the whole file, with a few positioned reads (see pageFile). It
// neither creates nor writes the file, and notes no use of the key. An
// unknown scope or a malformed key is refused without opening the file.
//
// A file another process holds fails at once with an error matching
// store.ErrLocked (the caller then asks the holder). A file the quick
// reader does not follow is read through bbolt (Open, read-only, without
// the whole page check), whose verdict on a damaged file is an error, never
// a crash: a panic, or a fault on the mapped file, becomes a
// store.DamageError.
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
	d, err = quickVerify(path, key, scope, client, now)
	if errors.Is(err, errOdd) {
		d, err = boltVerify(path, key, scope, client, now)
	}
	return d, err
}

// quickVerify is the point lookup through pageFile.
func quickVerify(path, key string, scope scopes.ID, client netip.Addr, now time.Time) (d store.Decision, err error) {
	defer func() {
		if r := recover(); r != nil { // every read is checked: never expected
			d, err = store.Decision{Scope: scope}, errOdd
		}
	}()
	p, err := openPages(path)
	if err != nil {
		return d, err
	}
	defer p.Close()
	switch foreign, err := p.foreign(); {
	case err != nil:
		return d, err
	case foreign:
		return d, fmt.Errorf("%s: %w (it holds another program's data; choose another file with --db)", path, store.ErrNotDatabase)
	}
	d, err = store.VerifySnapshot(p, key, scope, client, now)
	if err != nil && !errors.Is(err, errOdd) {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return d, err
}

// boltVerify is the point lookup through bbolt.
func boltVerify(path, key string, scope scopes.ID, client netip.Addr, now time.Time) (d store.Decision, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			d, err = store.Decision{Scope: scope}, &store.DamageError{Path: path, Problems: []string{fmt.Sprintf("unreadable page: %v", r)}}
		}
	}()
	// A single try at the lock: a held file is for the holder to answer.
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
