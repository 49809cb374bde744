package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// VerifyFile answers verify from the database file at path, for a command
// that found no process holding it. It opens the file read-only under a
// shared lock, which other commands share and which it holds for one
// lookup: the key's digest entry, its record and its app's record
// (store.VerifySnapshot), never the whole file. It neither creates nor
// writes the file, and notes no use of the key. An unknown scope or a
// malformed key is refused without opening the file.
//
// A file another process holds fails at once with an error matching
// store.ErrLocked (Reach then asks the holder). A damaged file is an error,
// never a crash: a panic, or a fault on the mapped file, reading it becomes
// a store.DamageError.
func VerifyFile(path, key string, scope scopes.ID, now time.Time) (d store.Decision, err error) {
	if !scopes.Known(scope) || store.CheckKey(key) != nil {
		return store.VerifySnapshot(nil, key, scope, now)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			d, err = store.Decision{Scope: scope}, &store.DamageError{Path: path, Problems: []string{fmt.Sprintf("unreadable page: %v", r)}}
		}
	}()
	if fi, err := os.Stat(path); err != nil {
		return d, err
	} else if fi.Size() == 0 {
		return d, fmt.Errorf("%s: %w (it is empty: nothing was ever saved in it)", path, store.ErrNotDatabase)
	}
	// A single try at the lock: a held file is for the holder to answer.
	e, err := bolt.Open(path, bolt.Options{ReadOnly: true, SkipPageCheck: true, Timeout: time.Nanosecond})
	if err != nil {
		return d, err
	}
	d, err = readDecision(e, key, scope, now)
	if cerr := e.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: %w", path, cerr)
	}
	return d, err
}

// readDecision is VerifySnapshot on one snapshot of an open engine.
func readDecision(e *bolt.Engine, key string, scope scopes.ID, now time.Time) (d store.Decision, err error) {
	err = e.Read(context.Background(), func(snap store.Snapshot) (err error) {
		d, err = store.VerifySnapshot(snap, key, scope, now)
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
