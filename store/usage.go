package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// usageEvery is the least time between two writes of one key's last use.
// Verify notes every use in memory; the file learns of it at most once a
// minute per key, and at Close, so checking a key never waits for a disk.
const usageEvery = time.Minute

// noteUse records in memory that key e was recognised at now.
func noteUse(e *keyEntry, now time.Time) {
	t := now.UnixNano()
	if e.used.Load() < t {
		e.used.Store(t)
	}
}

// flushUsage writes, in one transaction, the last use of every key used
// since its last write: of all such keys when all is set (at Close), else
// only of those last written at least usageEvery ago.
func (s *Store) flushUsage(all bool) error {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	type pending struct {
		e    *keyEntry
		id   uint64
		used int64
	}
	var todo []pending
	var now time.Time
	s.ix.mu.RLock()
	for id, e := range s.ix.byID {
		used := e.used.Load()
		if used <= e.persisted {
			continue
		}
		if !all {
			if now.IsZero() {
				now = s.now() // read only when something is pending
			}
			if now.UnixNano()-e.writtenAt < int64(usageEvery) {
				continue
			}
		}
		todo = append(todo, pending{e, id, used})
	}
	s.ix.mu.RUnlock()
	if len(todo) == 0 {
		return nil
	}
	if now.IsZero() {
		now = s.now()
	}
	written := 0
	err := s.commit(func(tx *bolt.Tx) error {
		written = 0
		for _, p := range todo {
			rec, err := getKey(tx, p.id)
			if err != nil {
				continue // deleted since: nothing to record
			}
			rec.LastUsedAt = time.Unix(0, p.used).UTC()
			if err := put(tx.Bucket(bucketKeys), itob(p.id), rec); err != nil {
				return err
			}
			written++
		}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	for _, p := range todo {
		p.e.persisted, p.e.writtenAt = p.used, now.UnixNano()
	}
	s.usageWrites += written
	return nil
}

// maintain runs until Close, every interval writing due last-used times and
// deleting rolled keys whose grace period has passed. A failure is retried
// on the next round: neither job loses anything by waiting.
func (s *Store) maintain(every time.Duration) {
	defer close(s.stopped)
	if every <= 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.flushUsage(false)
			_ = s.sweep()
		}
	}
}
