package store

import (
	"crypto/sha256"
	"encoding/binary"
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
// Each change set costs a copy of the overlay, not of the base.
type index struct {
	cur atomic.Pointer[ixState]

	mu      sync.Mutex // held by apply and by the readers of the fields below
	byID    map[uint64]*keyEntry
	slots   map[uint64]*appSlot
	orphans map[[sha256.Size]byte]uint64 // digests of keys dropped with their app: key id
	rev     uint64                       // the last revision applied
}

// ixState is one immutable generation of the digest map.
type ixState struct {
	base map[uint64]*keyEntry // by short(digest)
	over map[uint64]*keyEntry // newer chains, shadowing base; a nil chain: none
}

// short is the part of a digest the maps are keyed by: a map of 8-byte keys
// is a quarter the size of one of digests, so more of it stays in the CPU's
// cache. Entries whose digests share it are chained.
func short(d *[sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

// appSlot is an app as Verify sees it; every key of the app points to its
// slot, so a change of scopes is one pointer swap for all of them.
type appSlot struct {
	app atomic.Pointer[App] // nil once the app is deleted
}

// keyEntry is one key. It is never changed once published: a changed key is
// a new entry sharing the old one's use.
type keyEntry struct {
	digest [sha256.Size]byte
	next   *keyEntry
	slot   *appSlot
	key    Key
	use    *useCell
}

// useCell is what is known of a key's use: the latest recognised check, and
// (guarded by Store.usageMu) the last one written to the database.
type useCell struct {
	used      atomic.Int64 // unix nanoseconds; 0 never
	persisted int64
	writtenAt int64
}

func newIndex() *index {
	ix := &index{byID: map[uint64]*keyEntry{}, slots: map[uint64]*appSlot{}, orphans: map[[sha256.Size]byte]uint64{}}
	ix.cur.Store(&ixState{base: map[uint64]*keyEntry{}, over: map[uint64]*keyEntry{}})
	return ix
}

// lookup finds the key with the given digest.
func (ix *index) lookup(digest *[sha256.Size]byte) *keyEntry {
	st := ix.cur.Load()
	sh := short(digest)
	e, ok := st.over[sh]
	if !ok {
		e = st.base[sh]
	}
	for e != nil && e.digest != *digest {
		e = e.next
	}
	return e
}

// load fills an empty index from a snapshot.
func (ix *index) load(snap Snapshot) error {
	u := ix.begin()
	defer func() { u.commit(snap.Revision()) }()
	return u.loadFrom(snap)
}

func (u *update) loadFrom(snap Snapshot) error {
	err := snap.Scan(TableApps, nil, ScanOptions{}, func(_, v []byte) error {
		var rec appRecord
		if err := decode(v, &rec); err != nil {
			return err
		}
		u.putApp(rec.app())
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
		if len(k) == 8 && len(v) == 8 {
			u.noteStored(btoi(k), int64(btoi(v)))
		}
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
	for id, e := range u.ix.byID {
		u.uses[id] = e.use
	}
	u.ix.byID = map[uint64]*keyEntry{}
	u.ix.orphans = map[[sha256.Size]byte]uint64{}
	for _, slot := range u.ix.slots {
		slot.app.Store(nil)
	}
	u.ix.slots = map[uint64]*appSlot{}
}

// update is one change set being applied: the writer's view of the digest
// map, published by commit.
type update struct {
	ix     *index
	chains map[uint64]*keyEntry // changed chains
	fresh  bool                 // a reload: chains are the whole map
	uses   map[uint64]*useCell  // a reload: use kept from before
}

// begin starts an update; the index's lock is held until commit.
func (ix *index) begin() *update {
	ix.mu.Lock()
	return &update{ix: ix, chains: map[uint64]*keyEntry{}}
}

func (u *update) chain(sh uint64) *keyEntry {
	if c, ok := u.chains[sh]; ok || u.fresh {
		return c
	}
	return u.ix.cur.Load().find(sh)
}

func (st *ixState) find(sh uint64) *keyEntry {
	if e, ok := st.over[sh]; ok {
		return e
	}
	return st.base[sh]
}

// setChain replaces the chain of sh with entries (copied, so published
// entries are never changed).
func (u *update) setChain(sh uint64, entries []*keyEntry) {
	var head *keyEntry
	for i := len(entries) - 1; i >= 0; i-- {
		e := *entries[i]
		e.next = head
		head = &e
		u.ix.byID[e.key.ID] = head
	}
	u.chains[sh] = head
}

func (u *update) putApp(app App) {
	slot, ok := u.ix.slots[app.ID]
	if !ok {
		slot = &appSlot{}
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
	e := &keyEntry{key: rec.key()}
	copy(e.digest[:], rec.Digest)
	slot, ok := u.ix.slots[rec.AppID]
	if !ok { // the app's record comes later in this change set
		slot = &appSlot{}
		u.ix.slots[rec.AppID] = slot
	}
	e.slot = slot
	if old, ok := u.ix.byID[rec.ID]; ok {
		e.use = old.use
	} else if use, ok := u.uses[rec.ID]; ok {
		e.use = use
	} else {
		e.use = &useCell{}
	}
	sh := short(&e.digest)
	var entries []*keyEntry
	for c := u.chain(sh); c != nil; c = c.next {
		if c.key.ID != rec.ID {
			entries = append(entries, c)
		}
	}
	u.setChain(sh, append(entries, e))
	delete(u.ix.orphans, e.digest)
}

func (u *update) dropKey(id uint64, orphan bool) {
	old, ok := u.ix.byID[id]
	if !ok {
		return
	}
	delete(u.ix.byID, id)
	sh := short(&old.digest)
	var entries []*keyEntry
	for c := u.chain(sh); c != nil; c = c.next {
		if c.key.ID != id {
			entries = append(entries, c)
		}
	}
	u.setChain(sh, entries)
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
		base := make(map[uint64]*keyEntry, len(u.chains))
		for sh, c := range u.chains {
			if c != nil {
				base[sh] = c
			}
		}
		u.ix.cur.Store(&ixState{base: base, over: map[uint64]*keyEntry{}})
		return
	}
	if len(u.chains) == 0 {
		return
	}
	st := u.ix.cur.Load()
	next := &ixState{base: st.base, over: make(map[uint64]*keyEntry, len(st.over)+len(u.chains))}
	for sh, c := range st.over {
		next.over[sh] = c
	}
	for sh, c := range u.chains {
		next.over[sh] = c
	}
	if len(next.over) > mergeAt(len(st.base)) {
		base := make(map[uint64]*keyEntry, len(st.base)+len(next.over))
		for sh, c := range st.base {
			base[sh] = c
		}
		for sh, c := range next.over {
			if c == nil {
				delete(base, sh)
			} else {
				base[sh] = c
			}
		}
		next = &ixState{base: base, over: map[uint64]*keyEntry{}}
	}
	u.ix.cur.Store(next)
}

// appOf is the app of key id, if the index knows the key.
func (ix *index) appOf(id uint64) (uint64, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e, ok := ix.byID[id]; ok {
		return e.key.AppID, true
	}
	return 0, false
}

func (ix *index) hasKey(id uint64) bool {
	_, ok := ix.appOf(id)
	return ok
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
	for id, e := range ix.byID {
		if e.key.Deleting(now) {
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
