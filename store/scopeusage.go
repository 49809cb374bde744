package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"apiscopes/scopes"
)

// Per-scope usage: every allowed check notes, per app, the scope it used
// and when, and every refused check of a recognised key counts, per app,
// the scope it asked for. It is per app, so it survives a key's deletion or
// roll. Like a key's last use it is noted in memory and written coalesced,
// at most once a minute per app, in TableUsage ("s" ‖ app id ‖ scope id →
// last use ‖ denials, 16 bytes), outside the audit trail and the change
// feed. Denials are added to what is stored, and last uses keep the
// latest, so replicas sharing an engine merge rather than overwrite. Keys
// the index does not know only move metrics: an attacker cannot grow it.

// scopeUse is an app's use of each scope of the catalogue.
type scopeUse struct {
	last   []atomic.Int64 // unix ns of the last allowed check, by catalogue place
	denied []atomic.Int64 // refused checks since this process started

	// Guarded by the index's lock.
	storedLast    []int64 // as the database last said
	storedDenied  []int64
	flushedDenied []int64 // the part of denied already added to the database
	writtenAt     int64
}

func newScopeUse() scopeUse {
	n := scopes.Count()
	return scopeUse{last: make([]atomic.Int64, n), denied: make([]atomic.Int64, n),
		storedLast: make([]int64, n), storedDenied: make([]int64, n), flushedDenied: make([]int64, n)}
}

// note records one check of the scope at catalogue place i.
func (u *scopeUse) note(i int, allowed bool, now int64) {
	if allowed {
		if u.last[i].Load() < now {
			u.last[i].Store(now)
		}
		return
	}
	u.denied[i].Add(1)
}

func encodeScopeUse(last, denied int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(last)), uint64(denied))
}

func decodeScopeUse(v []byte) (last, denied int64, ok bool) {
	if len(v) != 16 {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:])), true
}

// noteUsage applies a TableUsage entry read from the database.
func (u *update) noteUsage(k, v []byte) {
	switch {
	case len(k) == 9 && k[0] == 'k' && len(v) == 8:
		u.noteStored(btoi(k[1:]), int64(btoi(v)))
	case len(k) > 9 && k[0] == 's':
		last, denied, ok := decodeScopeUse(v)
		i := scopes.Index(scopes.ID(k[9:]))
		if !ok || i < 0 {
			return // a scope retired since: its use no longer matters
		}
		appID := btoi(k[1:9])
		slot, ok := u.ix.slots[appID]
		if !ok {
			slot = newAppSlot()
			u.ix.slots[appID] = slot
		}
		su := &slot.use
		su.storedLast[i] = max(su.storedLast[i], last)
		su.storedDenied[i] = denied
		if su.last[i].Load() < last {
			su.last[i].Store(last)
		}
	}
}

// ScopeUse is what an app's keys did with one scope.
type ScopeUse struct {
	Scope    scopes.ID
	Granted  bool      // the app has the scope
	LastUsed time.Time // the last allowed check; zero: not since tracking began
	Denied   int64     // checks refused because the app lacks the scope
}

// AppUsage is an app's use of every scope it has or was asked for.
type AppUsage struct {
	App    App
	Scopes []ScopeUse // in catalogue order
}

// Unused is the granted scopes not used since the given time.
func (u AppUsage) Unused(since time.Time) []scopes.ID {
	var out []scopes.ID
	for _, s := range u.Scopes {
		if s.Granted && s.LastUsed.Before(since) {
			out = append(out, s.Scope)
		}
	}
	return out
}

// UsageSince is when this database began tracking per-scope use: a scope
// unused since then was never used as far as anyone can tell.
func (s *Store) UsageSince(ctx context.Context) (time.Time, error) {
	var v []byte
	err := s.eng.Read(ctx, func(snap Snapshot) (err error) {
		v, err = snap.Get(TableMeta, metaUsageSince)
		return err
	})
	if err != nil || v == nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, string(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("damaged record: usage start %q", v)
	}
	return t, nil
}

// Usage reports every app's use of its scopes, in list order: what this
// process knows, merged with what every process wrote.
func (s *Store) Usage(ctx context.Context) ([]AppUsage, error) {
	apps, err := s.Apps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AppUsage, len(apps))
	for i, a := range apps {
		out[i] = s.usageOf(a)
	}
	return out, nil
}

// AppUsage reports one app's use of its scopes.
func (s *Store) AppUsage(ctx context.Context, appID uint64) (AppUsage, error) {
	a, err := s.App(ctx, appID)
	if err != nil {
		return AppUsage{}, err
	}
	return s.usageOf(a), nil
}

func (s *Store) usageOf(a App) AppUsage {
	out := AppUsage{App: a}
	s.ix.mu.Lock()
	slot := s.ix.slots[a.ID]
	for i, sc := range scopes.All() {
		su := ScopeUse{Scope: sc.ID, Granted: a.Scopes.Allows(sc.ID)}
		if slot != nil {
			u := &slot.use
			if last := max(u.last[i].Load(), u.storedLast[i]); last > 0 {
				su.LastUsed = time.Unix(0, last).UTC()
			}
			su.Denied = u.storedDenied[i] + u.denied[i].Load() - u.flushedDenied[i]
		}
		if su.Granted || su.Denied > 0 || !su.LastUsed.IsZero() {
			out.Scopes = append(out.Scopes, su)
		}
	}
	s.ix.mu.Unlock()
	return out
}

// flushScopeUse writes the per-scope use noted since the last write: of
// every app when all is set (at Close), else of apps last written at least
// usageEvery ago. Each entry requires the value it read, so two processes
// adding denials never lose one another's.
func (s *Store) flushScopeUse(ctx context.Context, all bool) error {
	type pending struct {
		appID uint64
		i     int
		last  int64
		delta int64
		use   *scopeUse
	}
	now := s.clock.now().UnixNano()
	var todo []pending
	s.ix.mu.Lock()
	for appID, slot := range s.ix.slots {
		u := &slot.use
		if !all && now-u.writtenAt < int64(usageEvery) {
			continue
		}
		for i := range u.last {
			last, denied := u.last[i].Load(), u.denied[i].Load()
			if last > u.storedLast[i] || denied > u.flushedDenied[i] {
				todo = append(todo, pending{appID, i, last, denied - u.flushedDenied[i], u})
			}
		}
	}
	s.ix.mu.Unlock()
	slices.SortFunc(todo, func(a, b pending) int { return int(a.appID - b.appID) })
	ids := scopes.All()
	for len(todo) > 0 {
		chunk := todo[:min(len(todo), maxSweepOps/2)]
		todo = todo[len(chunk):]
		err := s.commitRule(ctx, Actor{}, func(t *txn) error {
			for _, p := range chunk {
				app, err := t.snap.Get(TableApps, itob(p.appID))
				if err != nil {
					return err
				}
				if app == nil {
					continue // deleted since: its use went with it
				}
				k := append(scopeUsePrefix(p.appID), ids[p.i].ID...)
				v, err := t.snap.Get(TableUsage, k)
				if err != nil {
					return err
				}
				last, denied, _ := decodeScopeUse(v)
				t.b.Require(TableApps, itob(p.appID), app) // never a use of an app deleted meanwhile
				t.b.Require(TableUsage, k, v)
				t.b.Put(TableUsage, k, encodeScopeUse(max(last, p.last), denied+p.delta))
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.ix.mu.Lock()
		for _, p := range chunk {
			p.use.flushedDenied[p.i] += p.delta
			p.use.writtenAt = now
		}
		s.ix.mu.Unlock()
	}
	return nil
}
