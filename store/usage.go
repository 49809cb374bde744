package store

import (
	"bytes"
	"context"
	"sync/atomic"
	"time"
)

// usageEvery is the least time between two writes of one key's last use.
// Verify notes every use in memory; the database learns of it at most once
// a minute per key, and at Close, so checking a key never waits for a disk.
// Uses live in their own table, outside the audit trail and the records
// the console edits, so noting them never conflicts with an admin's change.
const usageEvery = time.Minute

// noteUse records in memory that a key was recognised at now (unix ns). It
// writes only a newer time, so checks of one key on many cores share its
// record's cache line until the coarse clock moves.
func noteUse(used *atomic.Int64, now int64) {
	if used.Load() < now {
		used.Store(now)
	}
}

// noteMax raises used to at least t, for uses carried from elsewhere.
func noteMax(used *atomic.Int64, t int64) {
	for {
		old := used.Load()
		if old >= t || used.CompareAndSwap(old, t) {
			return
		}
	}
}

// flushUsage writes the last use of every key used since its last write:
// of all such keys when all is set (at Close), else only of those last
// written at least usageEvery ago. Large flushes go in several small
// changes, each within every engine's limits. A note is written only while
// the key's digest entry is there (a deleted key's use is dropped, and one
// of a key deleted with its app goes when its entry is swept), so no note
// outlives its key.
func (s *Store) flushUsage(ctx context.Context, all bool) error {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	type pending struct {
		at     []byte // app id ‖ key id
		digest [32]byte
		used   int64
	}
	var todo []pending
	now := s.clock.now().UnixNano()
	s.ix.mu.Lock()
	st := s.ix.cur.Load()
	for id, e := range s.ix.byID {
		used := st.usedOf(&e.digest)
		if used <= e.persisted || !all && now-e.writtenAt < int64(usageEvery) {
			continue
		}
		todo = append(todo, pending{keyKey(e.appID, id), e.digest, used})
	}
	s.ix.mu.Unlock()
	for len(todo) > 0 {
		chunk := todo[:min(len(todo), maxSweepOps)]
		todo = todo[len(chunk):]
		err := s.commitRule(ctx, Actor{}, func(t *txn) error {
			for _, p := range chunk {
				v, err := t.snap.Get(TableDigests, p.digest[:])
				if err != nil {
					return err
				}
				if !bytes.Equal(v, p.at) {
					continue // the key is gone
				}
				t.b.Require(TableDigests, p.digest[:], p.at)
				t.b.Put(TableUsage, keyUseKey(btoi(p.at[8:])), itob(uint64(p.used)))
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.ix.mu.Lock()
		for _, p := range chunk {
			e, ok := s.ix.byID[btoi(p.at[8:])]
			if !ok || e.digest != p.digest {
				continue // deleted since
			}
			if e.persisted < p.used {
				e.persisted = p.used
			}
			e.writtenAt = now
		}
		s.ix.mu.Unlock()
		s.usageWrites.Add(int64(len(chunk)))
	}
	return s.flushScopeUse(ctx, all)
}
