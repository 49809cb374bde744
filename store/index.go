package store

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// index is the database's apps and keys in memory, so that Verify answers
// from a hash and two map lookups instead of a read transaction and two JSON
// decodings. It is loaded at Open and changed only after a write commits,
// while the store's write lock is held, so it never shows a state the file
// does not have and always shows the latest one once a write returns.
type index struct {
	mu   sync.RWMutex
	keys map[[sha256.Size]byte]*keyEntry // by digest of the key text
	byID map[uint64]*keyEntry
	apps map[uint64]*appEntry
}

// appEntry is an app as Verify needs it, and the folded names of its keys so
// that CreateKey checks a name without reading every key of the app.
type appEntry struct {
	app   App
	names map[string]uint64 // folded key name → key id
}

// keyEntry is a key and what Verify learned about its use.
type keyEntry struct {
	digest [sha256.Size]byte
	key    Key // replaced, never changed in place; read under index.mu

	used atomic.Int64 // unix nanoseconds of the last recognised use; 0 never

	// Guarded by Store.usageMu: the last use written to the file, and when.
	persisted int64
	writtenAt int64
}

func newIndex() *index {
	return &index{keys: map[[sha256.Size]byte]*keyEntry{}, byID: map[uint64]*keyEntry{}, apps: map[uint64]*appEntry{}}
}

// load fills the index from the file.
func (ix *index) load(tx *bolt.Tx) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	err := tx.Bucket(bucketApps).ForEach(func(_, v []byte) error {
		var rec appRecord
		if err := decode(v, &rec); err != nil {
			return err
		}
		app, err := rec.app()
		if err != nil {
			return err
		}
		ix.apps[app.ID] = &appEntry{app: app, names: map[string]uint64{}}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
		var rec keyRecord
		if err := decode(v, &rec); err != nil {
			return err
		}
		ix.putKeyLocked(rec)
		return nil
	})
}

// putApp adds or replaces an app, keeping its keys.
func (ix *index) putApp(rec appRecord) {
	app, err := rec.app()
	if err != nil {
		return // not reachable: the record was just written from a valid Set
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if a, ok := ix.apps[app.ID]; ok {
		a.app = app
		return
	}
	ix.apps[app.ID] = &appEntry{app: app, names: map[string]uint64{}}
}

// dropApp removes an app and every key of it.
func (ix *index) dropApp(id uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	a, ok := ix.apps[id]
	if !ok {
		return
	}
	for _, keyID := range a.names {
		if e, ok := ix.byID[keyID]; ok {
			delete(ix.keys, e.digest)
			delete(ix.byID, keyID)
		}
	}
	delete(ix.apps, id)
}

// putKey adds a key or replaces its record, keeping what is known of its use.
func (ix *index) putKey(rec keyRecord) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.putKeyLocked(rec)
}

func (ix *index) putKeyLocked(rec keyRecord) {
	if e, ok := ix.byID[rec.ID]; ok {
		e.key = rec.key()
		return
	}
	e := &keyEntry{key: rec.key()}
	copy(e.digest[:], rec.Digest)
	if !rec.LastUsedAt.IsZero() {
		e.persisted = rec.LastUsedAt.UnixNano()
		e.used.Store(e.persisted)
	}
	ix.keys[e.digest] = e
	ix.byID[rec.ID] = e
	if a, ok := ix.apps[rec.AppID]; ok {
		a.names[foldName(rec.Name)] = rec.ID
	}
}

// dropKey removes a key.
func (ix *index) dropKey(id uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e, ok := ix.byID[id]
	if !ok {
		return
	}
	delete(ix.keys, e.digest)
	delete(ix.byID, id)
	if a, ok := ix.apps[e.key.AppID]; ok {
		delete(a.names, foldName(e.key.Name))
	}
}

// keyNamed reports whether app appID has a key with the given folded name.
func (ix *index) keyNamed(appID uint64, folded string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	a, ok := ix.apps[appID]
	if !ok {
		return false
	}
	_, taken := a.names[folded]
	return taken
}

// lookup returns the key with the given digest and its app.
func (ix *index) lookup(digest [sha256.Size]byte) (*keyEntry, Key, App, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e, ok := ix.keys[digest]
	if !ok {
		return nil, Key{}, App{}, false
	}
	a, ok := ix.apps[e.key.AppID]
	if !ok {
		return nil, Key{}, App{}, false
	}
	return e, e.key, a.app, true
}

// lastUsed is the latest use of key id known in memory, which may be newer
// than the file's.
func (ix *index) lastUsed(id uint64) int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if e, ok := ix.byID[id]; ok {
		return e.used.Load()
	}
	return 0
}
