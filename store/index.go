package store

import (
	"crypto/sha256"
	"hash/maphash"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// index is the database's apps and keys in memory, so that Verify answers
// from a hash and one read of memory, with no lock and no allocation. It is
// fed only by the engine's ordered change stream (the writer's own commits
// included), so it shows every committed change in commit order, and a
// writer's change before its call returns.
//
// Verify reads an immutable state swapped atomically: a large base table
// and a small overlay of recent changes, merged into a new base when it
// grows. Each change set costs a copy of the overlay, not of the base. The
// tables hold what Verify needs of a key beside its digest, and its note
// of use (keytable.go), so a lookup reads the record and then only the
// key's app.
type index struct {
	cur  atomic.Pointer[ixState]
	mult uint64 // where digests land in this index's tables (keytable.go)

	mu      sync.Mutex // held by apply and by the readers of the fields below
	byID    map[uint64]*keyInfo
	slots   map[uint64]*appSlot
	orphans map[[sha256.Size]byte]uint64 // digests of keys dropped with their app: key id
	names   map[uint64]uint32            // how many keys have each app and folded name, by their hash (nameHash)
	seed    maphash.Seed
	mirror  map[string][]byte // the meta and apps tables' records, by tkey (mirror.go)
	state   indexState        // the state hash (statefollow.go)
	order   appOrder          // the apps in list order, for paged reads (apppage.go)
	rev     uint64            // the last revision applied
}

// ixState is one immutable generation of the digest tables.
type ixState struct {
	base *keyTable
	over *keyTable // newer records, shadowing base; a removal's app is removedKey
}

// appSlot is an app as Verify sees it; every key of the app points to its
// slot, so a change of scopes is one pointer swap for all of them.
type appSlot struct {
	app atomic.Pointer[App] // nil once the app is deleted
	use scopeUse            // what its keys did with each scope (scopeusage.go)
}

func newAppSlot() *appSlot { return &appSlot{use: newScopeUse()} }

// keySlot is one key as Verify reads it: its app's slot, the key itself,
// never changed once made, and whether it has a deadline, so that a check
// of a key without one reads no time but the coarse clock. Verify's answer
// points to the same key and app, so a check copies neither (Decision).
type keySlot struct {
	app      *appSlot
	key      *Key
	deadline bool // the key expires or is scheduled for deletion
	listSlot      // the key's address list, if it has one (allowslot.go)
}

// newKeySlot is the slot of key k, of the app whose slot is app. The key's
// last use is kept beside it (keyRec.used), not in it.
func newKeySlot(k Key, app *appSlot) keySlot {
	k.LastUsedAt = time.Time{}
	return keySlot{app: app, key: indexKey(k), deadline: !k.ExpiresAt.IsZero() || !k.DeleteAt.IsZero(), listSlot: newListSlot(k.AllowFrom)}
}

// keyInfo is what the index keeps of a key for the store's own work: the
// sweep, the flush of last-used times and lookups by id. The key's latest
// use is in its table record (keyRec.used).
type keyInfo struct {
	digest   [sha256.Size]byte
	appID    uint64
	name     uint64 // the hash of its app and folded name (nameHash)
	deleteAt int64  // unix nanoseconds; 0: not scheduled
	written
}

// nameHash is where the index counts a key named folded in app appID.
// Two names may share one, so a count says only that a name may be taken.
func (ix *index) nameHash(appID uint64, folded string) uint64 {
	var h maphash.Hash
	h.SetSeed(ix.seed)
	maphash.WriteComparable(&h, appID)
	h.WriteString(folded)
	return h.Sum64()
}

// written is what the database holds of a key's use: the latest use it
// has, and when this process last wrote one (unix nanoseconds).
type written struct {
	persisted int64
	writtenAt int64
}

func newIndex() *index {
	ix := &index{byID: map[uint64]*keyInfo{}, slots: map[uint64]*appSlot{}, orphans: map[[sha256.Size]byte]uint64{},
		names: map[uint64]uint32{}, mirror: map[string][]byte{},
		mult: rand.Uint64() | 1, seed: maphash.MakeSeed()}
	ix.cur.Store(&ixState{base: newKeyTable(0, ix.mult), over: newKeyTable(0, ix.mult)})
	return ix
}

// lookup finds the record of the key with the given digest in state st:
// nil if it has none. Only its note of use ever changes.
func (st *ixState) lookup(digest *[sha256.Size]byte) *keyRec {
	if st.over.used > 0 {
		if r := st.over.find(digest); r != nil {
			if r.app == removedKey {
				return nil
			}
			return r
		}
	}
	return st.base.find(digest)
}

// usedOf is the latest use noted in st of the key with the given digest.
func (st *ixState) usedOf(digest *[sha256.Size]byte) int64 {
	if r := st.lookup(digest); r != nil {
		return r.used.Load()
	}
	return 0
}

// note notes a use at now of the key of record r, found in state st. A
// commit carries uses over from the state it replaces once it has
// published the new one (see commit); a use noted in st after that is
// noted again in the state that replaced it.
func (ix *index) note(st *ixState, r *keyRec, digest *[sha256.Size]byte, now int64) {
	noteUse(&r.used, now)
	if ix.cur.Load() != st {
		ix.renote(digest, now)
	}
}

// renote notes a use at now in the current state.
func (ix *index) renote(digest *[sha256.Size]byte, now int64) {
	for {
		st := ix.cur.Load()
		r := st.lookup(digest)
		if r == nil {
			return // the key is gone
		}
		noteUse(&r.used, now)
		if ix.cur.Load() == st {
			return
		}
	}
}

// load fills an empty index from a snapshot: its tables are built once,
// at their size (fresh), not as an overlay merged into a base.
func (ix *index) load(snap Snapshot) error {
	u := ix.begin()
	u.fresh = true
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
	u.loadState(snap)
	keys := 0 // as the apps count them: the maps are made at their size
	err = snap.Scan(TableApps, nil, ScanOptions{}, func(k, v []byte) error {
		var rec appRecord
		if err := decode(v, &rec); err != nil {
			return err
		}
		keys += max(rec.Keys, 0)
		u.putApp(rec.app())
		u.mirrorPut(TableApps, k, v)
		return nil
	})
	if err != nil {
		return err
	}
	if len(u.ix.byID) == 0 && len(u.changed) == 0 {
		keys = min(keys, 1<<26) // a count from the file, however large, only sizes maps
		u.changed = make(map[[sha256.Size]byte]keySlot, keys)
		u.ix.byID = make(map[uint64]*keyInfo, keys)
		u.ix.names = make(map[uint64]uint32, keys)
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
// key's use (commit carries the latest uses over from the state it
// replaces).
func (u *update) reset() {
	u.fresh = true
	u.kept = map[uint64]written{}
	for id, k := range u.ix.byID {
		u.kept[id] = k.written
	}
	u.ix.byID = map[uint64]*keyInfo{}
	u.ix.orphans = map[[sha256.Size]byte]uint64{}
	u.ix.names = map[uint64]uint32{}
	u.ix.mirror = map[string][]byte{}
	u.ix.order.invalidate()
	for _, slot := range u.ix.slots {
		slot.app.Store(nil)
	}
	u.ix.slots = map[uint64]*appSlot{}
}

// update is one change set being applied: the writer's view of the digest
// map, published by commit.
type update struct {
	ix      *index
	changed map[[sha256.Size]byte]keySlot // changed digests; a slot of removedKey: removed
	used    map[[sha256.Size]byte]int64   // uses read from the database, for the new records
	fresh   bool                          // a reload: changed is the whole map
	kept    map[uint64]written            // a reload: what was written of each key's use before
}

// begin starts an update; the index's lock is held until commit.
func (ix *index) begin() *update {
	ix.mu.Lock()
	return &update{ix: ix, changed: map[[sha256.Size]byte]keySlot{}, used: map[[sha256.Size]byte]int64{}}
}

func (u *update) putApp(app App) {
	slot, ok := u.ix.slots[app.ID]
	if !ok {
		slot = newAppSlot()
		u.ix.slots[app.ID] = slot
	}
	a := app
	u.ix.order.put(u.ix.rev, slot.app.Load(), &a)
	slot.app.Store(&a)
}

func (u *update) dropApp(id uint64) {
	if slot, ok := u.ix.slots[id]; ok {
		if a := slot.app.Load(); a != nil {
			u.ix.order.drop(u.ix.rev, a)
		}
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
	old, known := u.ix.byID[rec.ID]
	var w written
	if known {
		w = old.written
	} else {
		w = u.kept[rec.ID]
	}
	name := u.ix.nameHash(rec.AppID, FoldName(rec.Name))
	if !known {
		u.ix.names[name]++
	}
	var digest [sha256.Size]byte
	copy(digest[:], rec.Digest)
	k := rec.key()
	u.changed[digest] = newKeySlot(k, slot)
	var deleteAt int64
	if !k.DeleteAt.IsZero() {
		deleteAt = k.DeleteAt.UnixNano()
	}
	u.ix.byID[rec.ID] = &keyInfo{digest: digest, appID: rec.AppID, name: name, deleteAt: deleteAt, written: w}
	delete(u.ix.orphans, digest)
}

func (u *update) dropKey(id uint64, orphan bool) {
	old, ok := u.ix.byID[id]
	if !ok {
		return
	}
	delete(u.ix.byID, id)
	if u.ix.names[old.name]--; u.ix.names[old.name] == 0 {
		delete(u.ix.names, old.name)
	}
	u.changed[old.digest] = keySlot{app: removedKey}
	if orphan {
		u.ix.orphans[old.digest] = id
	}
}

// noteStored records a use read from the database (this process's own
// flush, another replica's, or the load).
func (u *update) noteStored(id uint64, used int64) {
	if e, ok := u.ix.byID[id]; ok {
		if r := u.ix.cur.Load().lookup(&e.digest); r != nil {
			noteMax(&r.used, used)
		}
		u.used[e.digest] = max(u.used[e.digest], used)
		if e.persisted < used {
			e.persisted = used
		}
	}
}

// mergeAt is how large the overlay may grow before it is merged into a new
// base: a fraction of the base, so the copies cost O(1) per change on
// average.
func mergeAt(base int) int { return max(64, base/16) }

// commit publishes the update as the index's new state.
//
// Each new record starts with the latest use noted of its key. Verify may
// go on noting uses in the state being replaced until it sees the new one,
// so once the new state is published its new records take the replaced
// state's uses again; a use noted after that finds the new state (renote).
func (u *update) commit(rev uint64) {
	defer u.ix.mu.Unlock()
	if rev > u.ix.rev {
		u.ix.rev = rev
	}
	st := u.ix.cur.Load()
	var next *ixState
	switch {
	case u.fresh:
		base := newKeyTable(len(u.changed), u.ix.mult)
		for d, k := range u.changed {
			if k.app != removedKey {
				base.put(d, k, max(u.used[d], st.usedOf(&d)))
			}
		}
		next = &ixState{base: base, over: newKeyTable(0, u.ix.mult)}
	case len(u.changed) == 0:
		return // a use read for an unchanged key went into its record (noteStored)
	default:
		over := newKeyTable(st.over.used+len(u.changed), u.ix.mult)
		st.over.each(func(r *keyRec) { over.put(r.digest, r.keySlot, r.used.Load()) })
		for d, k := range u.changed {
			over.put(d, k, max(u.used[d], st.usedOf(&d)))
		}
		next = &ixState{base: st.base, over: over}
		if over.used > mergeAt(st.base.used) {
			base := newKeyTable(st.base.used+over.used, u.ix.mult)
			st.base.each(func(r *keyRec) {
				if over.find(&r.digest) == nil {
					base.put(r.digest, r.keySlot, r.used.Load())
				}
			})
			over.each(func(r *keyRec) {
				if r.app != removedKey {
					base.put(r.digest, r.keySlot, r.used.Load())
				}
			})
			next = &ixState{base: base, over: newKeyTable(0, u.ix.mult)}
		}
	}
	u.ix.cur.Store(next)
	carry := func(r *keyRec) {
		if r.app != removedKey {
			noteMax(&r.used, st.usedOf(&r.digest))
		}
	}
	next.over.each(carry)
	if next.base != st.base {
		next.base.each(carry)
	}
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
// index shows revision rev: ok is false when it shows another, or when the
// name may be taken (the index counts names by a hash, which two names may
// share), and the caller reads its snapshot instead.
func (ix *index) keyNamed(appID uint64, folded string, rev uint64) (taken, ok bool) {
	h := ix.nameHash(appID, folded)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.rev != rev || ix.names[h] > 0 {
		return false, false
	}
	return false, true
}

// lastUsed is the latest use of key id known in memory, which may be newer
// than the database's.
func (ix *index) lastUsed(id uint64) int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e, ok := ix.byID[id]; ok {
		return ix.cur.Load().usedOf(&e.digest)
	}
	return 0
}

// dueForDeletion lists the rolled keys whose grace has passed at now,
// oldest first.
func (ix *index) dueForDeletion(now time.Time) []uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var due []uint64
	at := now.UnixNano()
	for id, k := range ix.byID {
		if k.deleteAt != 0 && k.deleteAt <= at {
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
