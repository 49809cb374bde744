package store

import (
	"crypto/sha256"
	"encoding/binary"
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
	keys map[uint64]*keyEntry // by the first 8 bytes of the digest of the key text
	byID map[uint64]*keyEntry
	apps map[uint64]*appEntry
}

// short is the part of a digest the index is keyed by: a map of 8-byte keys
// is a quarter the size of one of digests, so more of it stays in the CPU's
// cache. Entries whose digests share it are chained and told apart by the
// whole digest.
func short(d [sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

// appEntry is an app as Verify needs it, and the folded names of its keys so
// that CreateKey checks a name without reading every key of the app.
type appEntry struct {
	app   App
	names map[string]uint64 // folded key name → key id
}

// keyEntry is a key and what Verify learned about its use.
type keyEntry struct {
	// What Verify reads first, together, in as few cache lines as may be.
	digest [sha256.Size]byte
	next   *keyEntry // another key whose digest starts with the same 8 bytes
	app    *appEntry
	key    Key // replaced, never changed in place; read under index.mu

	used atomic.Int64 // unix nanoseconds of the last recognised use; 0 never

	// Guarded by Store.usageMu: the last use written to the file, and when.
	persisted int64
	writtenAt int64
}

func newIndex() *index {
	return &index{keys: map[uint64]*keyEntry{}, byID: map[uint64]*keyEntry{}, apps: map[uint64]*appEntry{}}
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
		ix.dropKeyLocked(keyID)
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
	a, ok := ix.apps[rec.AppID]
	if !ok {
		return // not reachable: a key's app is written before it and deleted with it
	}
	e := &keyEntry{key: rec.key(), app: a}
	copy(e.digest[:], rec.Digest)
	if !rec.LastUsedAt.IsZero() {
		e.persisted = rec.LastUsedAt.UnixNano()
		e.used.Store(e.persisted)
	}
	sh := short(e.digest)
	e.next = ix.keys[sh]
	ix.keys[sh] = e
	ix.byID[rec.ID] = e
	a.names[foldName(rec.Name)] = rec.ID
}

// dropKey removes a key.
func (ix *index) dropKey(id uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.dropKeyLocked(id)
}

func (ix *index) dropKeyLocked(id uint64) {
	e, ok := ix.byID[id]
	if !ok {
		return
	}
	sh := short(e.digest)
	if head := ix.keys[sh]; head == e {
		if e.next == nil {
			delete(ix.keys, sh)
		} else {
			ix.keys[sh] = e.next
		}
	} else {
		for p := head; p != nil; p = p.next {
			if p.next == e {
				p.next = e.next
				break
			}
		}
	}
	delete(ix.byID, id)
	delete(e.app.names, foldName(e.key.Name))
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

// lookup finds the key with the given digest and returns it with its app.
// Both are copies, safe to use after the lock is gone.
func (ix *index) lookup(digest [sha256.Size]byte, d *Decision) (*keyEntry, bool) {
	ix.mu.RLock()
	e := ix.keys[short(digest)]
	for e != nil && e.digest != digest {
		e = e.next
	}
	if e != nil {
		d.Key, d.App = e.key, e.app.app
	}
	ix.mu.RUnlock()
	return e, e != nil
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
