package store

import (
	"crypto/sha256"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// index is the database's apps and keys in memory, so that Verify answers
// from a hash and a map lookup, with no lock and no allocation. It is fed
// only by the engine's ordered change stream (the writer's own commits
// included), so it shows every committed change in commit order, and a
// writer's change before its call returns.
//
// Verify reads an immutable state swapped atomically: a large base map and
// a small overlay of recent changes, merged into a new base when it grows.
// Each change set costs a copy of the overlay, not of the base. The maps
// hold what Verify needs of a key in the map's own slot (see keySlot), so a
// lookup reads the slot and then only the key's app and its note of use.
type index struct {
	cur atomic.Pointer[ixState]

	mu      sync.Mutex // held by apply and by the readers of the fields below
	byID    map[uint64]*keyInfo
	slots   map[uint64]*appSlot
	orphans map[[sha256.Size]byte]uint64 // digests of keys dropped with their app: key id
	names   map[uint64]map[string]int    // folded key names of each app: how many keys have each (one)
	mirror  map[string][]byte            // the meta and apps tables' records, by tkey (mirror.go)
	rev     uint64                       // the last revision applied
}

// ixState is one immutable generation of the digest map.
type ixState struct {
	base map[[sha256.Size]byte]keySlot
	over map[[sha256.Size]byte]keySlot // newer slots, shadowing base; one with no app: removed
}

// appSlot is an app as Verify sees it; every key of the app points to its
// slot, so a change of scopes is one pointer swap for all of them.
type appSlot struct {
	app atomic.Pointer[App] // nil once the app is deleted
	use *scopeUse           // what its keys did with each scope (scopeusage.go)
}

func newAppSlot() *appSlot { return &appSlot{use: newScopeUse()} }

// keySlot is one key as Verify reads it, stored in the digest map's slot
// itself: Go keeps map values of up to 128 bytes inline, so the lookup
// that finds the digest has the key beside it, where a pointer to it would
// cost another read from memory (the larger part of a check among many
// keys). Times are kept as seconds and nanoseconds (a Key's three times
// would not fit).
type keySlot struct {
	app                      *appSlot // nil in an overlay: the key is gone
	use                      *useCell
	id, appID                uint64
	name, hint, createdBy    string
	createdS, expiresS, delS int64
	createdN, expiresN, delN int32
	deadline                 bool // it expires or is scheduled for deletion
}

func newKeySlot(k Key, app *appSlot, use *useCell) keySlot {
	return keySlot{app: app, use: use, id: k.ID, appID: k.AppID, name: k.Name, hint: k.Hint, createdBy: k.CreatedBy,
		createdS: k.CreatedAt.Unix(), createdN: int32(k.CreatedAt.Nanosecond()),
		expiresS: k.ExpiresAt.Unix(), expiresN: int32(k.ExpiresAt.Nanosecond()),
		delS: k.DeleteAt.Unix(), delN: int32(k.DeleteAt.Nanosecond()),
		deadline: !k.ExpiresAt.IsZero() || !k.DeleteAt.IsZero()}
}

// key is the slot's key (in UTC, as stored; a zero time stays zero).
func (k *keySlot) key() Key {
	return Key{ID: k.id, AppID: k.appID, Name: k.name, Hint: k.hint, CreatedBy: k.createdBy,
		CreatedAt: time.Unix(k.createdS, int64(k.createdN)).UTC(),
		ExpiresAt: time.Unix(k.expiresS, int64(k.expiresN)).UTC(),
		DeleteAt:  time.Unix(k.delS, int64(k.delN)).UTC()}
}

// keyInfo is what the index keeps of a key for the store's own work: the
// sweep, the flush of last-used times and lookups by id.
type keyInfo struct {
	digest   [sha256.Size]byte
	appID    uint64
	name     string // folded
	deleteAt time.Time
	use      *useCell
}

// useCell is what is known of a key's use: the latest recognised check, and
// (guarded by Store.usageMu) the last one written to the database.
type useCell struct {
	used      atomic.Int64 // unix nanoseconds; 0 never
	persisted int64
	writtenAt int64
}

func newIndex() *index {
	ix := &index{byID: map[uint64]*keyInfo{}, slots: map[uint64]*appSlot{}, orphans: map[[sha256.Size]byte]uint64{},
		names: map[uint64]map[string]int{}, mirror: map[string][]byte{}}
	ix.cur.Store(&ixState{base: map[[sha256.Size]byte]keySlot{}, over: map[[sha256.Size]byte]keySlot{}})
	return ix
}

// lookup finds the key with the given digest.
func (ix *index) lookup(digest *[sha256.Size]byte) (keySlot, bool) {
	st := ix.cur.Load()
	if len(st.over) > 0 {
		if k, ok := st.over[*digest]; ok {
			return k, k.app != nil
		}
	}
	k, ok := st.base[*digest]
	return k, ok
}

// load fills an empty index from a snapshot.
func (ix *index) load(snap Snapshot) error {
	u := ix.begin()
	defer func() { u.commit(snap.Revision()) }()
	return u.loadFrom(snap)
}

func (u *update) loadFrom(snap Snapshot) error {
	err := snap.Scan(TableMeta, nil, ScanOptions{}, func(k, v []byte) error {
		u.mirrorPut(TableMeta, k, v)
		return nil
	})
	if err != nil {
		return err
	}
	err = snap.Scan(TableApps, nil, ScanOptions{}, func(k, v []byte) error {
		var rec appRecord
		if err := decode(v, &rec); err != nil {
			return err
		}
		u.putApp(rec.app())
		u.mirrorPut(TableApps, k, v)
		return nil
	})
	if err != nil {
		return err
	}
	err = snap.Scan(TableKeys, nil, ScanOptions{}, func(_, v []byte) error {
		var rec keyRecord
		if err := decode(v, &rec); err != nil {
			return err
		}
		u.putKey(rec)
		return nil
	})
	if err != nil {
		return err
	}
	err = snap.Scan(TableUsage, nil, ScanOptions{}, func(k, v []byte) error {
		u.noteUsage(k, v)
		return nil
	})
	if err != nil {
		return err
	}
	// Digest entries whose key is gone were left by an app's deletion (its
	// keys go in one range removal); the next sweep removes them.
	return snap.Scan(TableDigests, nil, ScanOptions{}, func(k, v []byte) error {
		if len(k) == sha256.Size && len(v) == 16 {
			if _, ok := u.ix.byID[btoi(v[8:])]; !ok {
				u.ix.orphans[[sha256.Size]byte(k)] = btoi(v[8:])
			}
		}
		return nil
	})
}

// reset empties the index for a reload, keeping what is known of each
// key's use.
func (u *update) reset() {
	u.fresh = true
	u.uses = map[uint64]*useCell{}
	for id, k := range u.ix.byID {
		u.uses[id] = k.use
	}
	u.ix.byID = map[uint64]*keyInfo{}
	u.ix.orphans = map[[sha256.Size]byte]uint64{}
	u.ix.names = map[uint64]map[string]int{}
	u.ix.mirror = map[string][]byte{}
	for _, slot := range u.ix.slots {
		slot.app.Store(nil)
	}
	u.ix.slots = map[uint64]*appSlot{}
}

// update is one change set being applied: the writer's view of the digest
// map, published by commit.
type update struct {
	ix      *index
	changed map[[sha256.Size]byte]keySlot // changed digests; a slot with no app: removed
	fresh   bool                          // a reload: changed is the whole map
	uses    map[uint64]*useCell           // a reload: use kept from before
}

// begin starts an update; the index's lock is held until commit.
func (ix *index) begin() *update {
	ix.mu.Lock()
	return &update{ix: ix, changed: map[[sha256.Size]byte]keySlot{}}
}

func (u *update) putApp(app App) {
	slot, ok := u.ix.slots[app.ID]
	if !ok {
		slot = newAppSlot()
		u.ix.slots[app.ID] = slot
	}
	a := app
	slot.app.Store(&a)
}

func (u *update) dropApp(id uint64) {
	if slot, ok := u.ix.slots[id]; ok {
		slot.app.Store(nil)
		delete(u.ix.slots, id)
	}
}

func (u *update) putKey(rec keyRecord) {
	slot, ok := u.ix.slots[rec.AppID]
	if !ok { // the app's record comes later in this change set
		slot = newAppSlot()
		u.ix.slots[rec.AppID] = slot
	}
	var use *useCell
	old, known := u.ix.byID[rec.ID]
	if known {
		use = old.use
	} else if kept, ok := u.uses[rec.ID]; ok {
		use = kept
	} else {
		use = &useCell{}
	}
	folded := FoldName(rec.Name)
	if !known {
		if u.ix.names[rec.AppID] == nil {
			u.ix.names[rec.AppID] = map[string]int{}
		}
		u.ix.names[rec.AppID][folded]++
	}
	var digest [sha256.Size]byte
	copy(digest[:], rec.Digest)
	k := rec.key()
	u.changed[digest] = newKeySlot(k, slot, use)
	u.ix.byID[rec.ID] = &keyInfo{digest: digest, appID: rec.AppID, name: folded, deleteAt: k.DeleteAt, use: use}
	delete(u.ix.orphans, digest)
}

func (u *update) dropKey(id uint64, orphan bool) {
	old, ok := u.ix.byID[id]
	if !ok {
		return
	}
	delete(u.ix.byID, id)
	if names := u.ix.names[old.appID]; names != nil {
		if names[old.name]--; names[old.name] <= 0 {
			delete(names, old.name)
		}
		if len(names) == 0 {
			delete(u.ix.names, old.appID)
		}
	}
	u.changed[old.digest] = keySlot{}
	if orphan {
		u.ix.orphans[old.digest] = id
	}
}

// noteStored records a use read from the database (this process's own
// flush, another replica's, or the load).
func (u *update) noteStored(id uint64, used int64) {
	if e, ok := u.ix.byID[id]; ok {
		if e.use.used.Load() < used {
			e.use.used.Store(used)
		}
		if e.use.persisted < used {
			e.use.persisted = used
		}
	}
}

// mergeAt is how large the overlay may grow before it is merged into a new
// base: a fraction of the base, so the copies cost O(1) per change on
// average.
func mergeAt(base int) int { return max(64, base/16) }

// commit publishes the update as the index's new state.
func (u *update) commit(rev uint64) {
	defer u.ix.mu.Unlock()
	if rev > u.ix.rev {
		u.ix.rev = rev
	}
	if u.fresh {
		base := make(map[[sha256.Size]byte]keySlot, len(u.changed))
		for d, k := range u.changed {
			if k.app != nil {
				base[d] = k
			}
		}
		u.ix.cur.Store(&ixState{base: base, over: map[[sha256.Size]byte]keySlot{}})
		return
	}
	if len(u.changed) == 0 {
		return
	}
	st := u.ix.cur.Load()
	next := &ixState{base: st.base, over: make(map[[sha256.Size]byte]keySlot, len(st.over)+len(u.changed))}
	for d, k := range st.over {
		next.over[d] = k
	}
	for d, k := range u.changed {
		next.over[d] = k
	}
	if len(next.over) > mergeAt(len(st.base)) {
		base := make(map[[sha256.Size]byte]keySlot, len(st.base)+len(next.over))
		for d, k := range st.base {
			base[d] = k
		}
		for d, k := range next.over {
			if k.app == nil {
				delete(base, d)
			} else {
				base[d] = k
			}
		}
		next = &ixState{base: base, over: map[[sha256.Size]byte]keySlot{}}
	}
	u.ix.cur.Store(next)
}

// appOf is the app of key id, if the index knows the key.
func (ix *index) appOf(id uint64) (uint64, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if k, ok := ix.byID[id]; ok {
		return k.appID, true
	}
	return 0, false
}

func (ix *index) hasKey(id uint64) bool {
	_, ok := ix.appOf(id)
	return ok
}

// keyNamed reports whether app appID has a key of this folded name, if the
// index shows revision rev: ok is false when it shows another, and the
// caller reads its snapshot instead.
func (ix *index) keyNamed(appID uint64, folded string, rev uint64) (taken, ok bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.rev != rev {
		return false, false
	}
	return ix.names[appID][folded] > 0, true
}

// lastUsed is the latest use of key id known in memory, which may be newer
// than the database's.
func (ix *index) lastUsed(id uint64) int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e, ok := ix.byID[id]; ok {
		return e.use.used.Load()
	}
	return 0
}

// dueForDeletion lists the rolled keys whose grace has passed at now,
// oldest first.
func (ix *index) dueForDeletion(now time.Time) []uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var due []uint64
	for id, k := range ix.byID {
		if !k.deleteAt.IsZero() && !now.Before(k.deleteAt) {
			due = append(due, id)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i] < due[j] })
	return due
}

// takeOrphans returns the digests of keys removed with their app, whose
// index entries in the database are yet to be swept.
func (ix *index) takeOrphans(n int) map[[sha256.Size]byte]uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := map[[sha256.Size]byte]uint64{}
	for d, id := range ix.orphans {
		if len(out) >= n {
			break
		}
		out[d] = id
	}
	return out
}

func (ix *index) forgetOrphan(d [sha256.Size]byte) {
	ix.mu.Lock()
	delete(ix.orphans, d)
	ix.mu.Unlock()
}

// counts is how many apps and keys the index holds.
func (ix *index) counts() (apps, keys int) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.slots), len(ix.byID)
}
