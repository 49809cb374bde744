package store

import "bytes"

// The state hash as the index keeps it (statekeep.go): from the snapshot
// it loads (the checkpoint and the events after it), then from each change
// set the stream brings, by its checkpoint or its events' marks, checked
// against each event's digest. A change made at the index's head starts
// from it and reads nothing; one it cannot serve (the hash unknown, or at
// another event) derives the hash from its snapshot.

// indexState is the index's state hash, under the index's lock.
type indexState struct {
	hash  StateHash
	seq   uint64 // the event it is at
	sum   string // its digest
	known bool   // false while it cannot be vouched for: the change's own derivation is used instead

	pending *pendingState // a change of this process on its way through the stream
}

// pendingState is the state hash a change of this process leaves, offered
// before it commits: the stream then brings the change back, and the
// index takes the hash rather than compute it again, if the change set
// ends at that event with that digest (whoever made it: the digest is the
// state's).
type pendingState struct {
	seq  uint64
	sum  string
	hash StateHash
}

// stateAt is the index's state hash when it is at event seq with digest
// sum.
func (ix *index) stateAt(seq uint64, sum string) (StateHash, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s := &ix.state
	if !s.known || s.seq != seq || s.sum != sum {
		return StateHash{}, false
	}
	return s.hash, true
}

// offerState offers the state hash a change is about to leave.
func (ix *index) offerState(seq uint64, sum string, h StateHash) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.state.pending = &pendingState{seq: seq, sum: sum, hash: h}
}

// loadState derives the state hash of the snapshot the index loads from;
// u's lock is held. A database of schema 2, read as it is, has none.
func (u *update) loadState(snap Snapshot) {
	s := &u.ix.state
	*s = indexState{}
	schema, err := snap.Get(TableMeta, metaSchema)
	if err != nil || !keepsState(string(schema)) {
		return
	}
	var head auditHead
	if v, err := snap.Get(TableMeta, metaAuditHead); err != nil || v != nil && decode(v, &head) != nil {
		return
	}
	h, seq, err := deriveState(snap)
	if err != nil || seq != head.Seq {
		return
	}
	s.hash, s.seq, s.sum = h, seq, h.Sum()
	s.known = s.sum == head.state()
}

// followState brings the state hash in step with a change set whose audit
// events, in order, are events; u's lock is held.
func (u *update) followState(cs ChangeSet, events []Event) {
	s := &u.ix.state
	for _, c := range cs.Changes {
		if c.Table == TableMeta && bytes.Equal(c.Key, metaState) && c.Value != nil {
			h, seq, err := parseCheckpoint(c.Value)
			s.hash, s.seq, s.known = h, seq, err == nil
			if err == nil {
				s.sum = h.Sum()
			}
		}
	}
	if len(events) == 0 {
		return
	}
	last := events[len(events)-1]
	if p := s.pending; p != nil && p.seq == last.Seq && p.sum == last.State && p.sum != "" {
		s.hash, s.seq, s.sum, s.known, s.pending = p.hash, p.seq, p.sum, true, nil
		return
	}
	if p := s.pending; p != nil && p.seq <= last.Seq {
		s.pending = nil // that change did not commit: another took its place
	}
	if !s.known {
		return
	}
	for _, ev := range events {
		if ev.Seq <= s.seq {
			continue // the checkpoint covers it
		}
		if ev.Seq != s.seq+1 || ev.State == "" || s.hash.applyMarks(ev.Records) != nil {
			s.known = false
			return
		}
		s.seq = ev.Seq
	}
	s.sum = s.hash.Sum()
	s.known = s.sum == last.State
}
