package store

import (
	"context"
	"crypto/sha256"
	"sort"
	"time"
)

// apply brings the index and the feed in step with one committed change
// set from the engine's change stream: the only way either ever changes.
func (s *Store) apply(cs ChangeSet) {
	if cs.Resync {
		s.reload()
		return
	}
	if cs.Revision != 0 && cs.Revision <= s.ix.applied() {
		return // already in the index: a stream resumed after a reload replays what the reload read
	}
	u := s.ix.begin()
	digestsGone := map[[sha256.Size]byte]bool{}
	for _, c := range cs.Changes {
		if c.Table == TableDigests && c.Value == nil && len(c.Key) == sha256.Size {
			digestsGone[[sha256.Size]byte(c.Key)] = true
		}
		if mirrored(c.Table) {
			u.mirrorPut(c.Table, c.Key, c.Value)
		}
		if c.Table == TableMeta && string(c.Key) == string(metaSchema) {
			s.noteSchema(c.Value)
		}
	}
	var events []Event
	for _, c := range cs.Changes { // apps first: their keys point at them
		if c.Table == TableApps && c.Value != nil {
			var rec appRecord
			if decode(c.Value, &rec) == nil {
				u.putApp(rec.app())
			}
		}
	}
	for _, c := range cs.Changes {
		switch {
		case c.Table == TableKeys && c.Value != nil:
			var rec keyRecord
			if decode(c.Value, &rec) == nil {
				u.putKey(rec)
			}
		case c.Table == TableKeys && len(c.Key) == 16:
			id := btoi(c.Key[8:])
			orphan := true
			if e, ok := s.ix.byID[id]; ok && digestsGone[e.digest] {
				orphan = false
			}
			u.dropKey(id, orphan)
		case c.Table == TableApps && c.Value == nil && len(c.Key) == 8:
			u.dropApp(btoi(c.Key))
		case c.Table == TableUsage && c.Value != nil:
			u.noteUsage(c.Key, c.Value)
		case c.Table == TableAudit && c.Value != nil:
			var ev Event
			if decode(c.Value, &ev) == nil {
				events = append(events, ev)
			}
		}
	}
	var updates []Update
	if len(events) > 0 {
		sort.Slice(events, func(i, j int) bool { return events[i].Seq < events[j].Seq })
	}
	u.followState(cs, events)
	if len(events) > 0 {
		for _, ev := range events {
			up := Update{Event: ev}
			if slot, ok := s.ix.slots[ev.AppID]; ok {
				if app := slot.app.Load(); app != nil {
					a := *app
					up.App = &a
				}
			}
			updates = append(updates, up)
		}
	}
	u.commit(cs.Revision)
	s.appliedM.Lock()
	s.applied.Broadcast()
	s.appliedM.Unlock()
	s.feed.publish(updates)
}

// reload replaces the index with a fresh snapshot's, after the change
// stream lost changes, and tells every subscriber to reload too.
func (s *Store) reload() {
	// The stream's own work: no caller waits for it.
	err := s.eng.Read(context.Background(), func(snap Snapshot) error {
		if v, err := snap.Get(TableMeta, metaSchema); err == nil {
			s.noteSchema(v)
		}
		u := s.ix.begin()
		u.reset()
		defer func() { u.commit(snap.Revision()) }()
		return u.loadFrom(snap)
	})
	if err != nil && s.IsOpen() {
		// The index may hold part of the snapshot: read it whole again
		// shortly. Change sets meanwhile apply on top, and those the next
		// reload reads are skipped as already applied.
		time.AfterFunc(reloadRetry, func() {
			if s.IsOpen() {
				s.reload()
			}
		})
	}
	s.appliedM.Lock()
	s.applied.Broadcast()
	s.appliedM.Unlock()
	s.feed.resync()
}

// reloadRetry is how soon a reload that failed is tried again.
const reloadRetry = time.Second

// applied is the last revision the index applied.
func (ix *index) applied() uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.rev
}
