package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// maxAttempts bounds how often a rule is run again after its snapshot went
// stale under it. Each retry means another writer committed in between, so
// running out of attempts means heavy contention, not a stuck store.
const maxAttempts = 16

// ErrBusy is a change given up after maxAttempts stale snapshots in a row.
var ErrBusy = errors.New("the database is busy with other changes; try again")

// txn is one attempt at a change: the snapshot it reads, the batch it
// builds, and the time and actor it is made by. A rule may run several
// times, each on a fresh txn, so it has no effect outside its txn: key text,
// times and ids are drawn per attempt.
type txn struct {
	s     *Store
	snap  Snapshot
	b     Batch
	at    time.Time
	actor Actor

	attempt int // 1 for the first run of the rule, then 2, 3… after stale snapshots

	written map[string][]byte // what this attempt put (nil value: removed), for reads after writes
	head    *auditHead        // the audit head as this attempt will leave it
	base    auditHead         // the audit head as this attempt read it
	counter map[string]uint64 // id counters as this attempt will leave them
	events  int               // audit events recorded

	state      *StateHash     // the state hash as this attempt leaves it; nil until needed
	marks      []markEntry    // the records written since the last event (statekeep.go)
	markAt     map[string]int // index in marks, by place
	checkpoint bool           // the next event writes a checkpoint of the state hash

	keyNameSnap  map[uint64]map[string]bool // folded key names in the snapshot, by app, read when first asked
	keyNameDelta map[uint64]map[string]bool // folded key names this attempt made (true) or removed (false), by app
}

// change runs rule as one atomic, audited change by actor, again on a
// fresh snapshot whenever another writer got there first. The change is in
// this store's index and feed when change returns.
func (s *Store) change(ctx context.Context, actor Actor, rule func(*txn) error) error {
	if err := s.mayWrite(&actor); err != nil { // cleans the actor's name too
		return err
	}
	return s.commitRule(ctx, actor, rule)
}

// commitRule is change without the permission check, for the store's own
// housekeeping (scheduled deletions, last-used times).
//
// The writers of one process take turns: a rule's snapshot then goes stale
// only when another process wrote in between, and twenty sessions saving
// at once wait for each other instead of outrunning each other's snapshots
// until one gives up. Every audited change compares and swaps the audit
// head anyway, so they could not commit side by side.
//
// A caller that has gone away before the change starts (its context ended
// while it waited its turn) gets the context's error and nothing is
// written; once started, a change finishes or fails on the engine's own
// timeouts whatever the caller does, so no commit is left with an outcome
// nobody knows.
func (s *Store) commitRule(ctx context.Context, actor Actor, rule func(*txn) error) error {
	if s.readOnly {
		return &WriteError{Path: s.name, Err: errReadOnly}
	}
	if err := s.awaitCheck(ctx); err != nil { // nothing is written to a database not shown sound
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		at := s.clock.now().UTC()
		t := s.onMirror(actor, rule, at, attempt)
		var err error
		if t == nil {
			err = s.eng.Read(ctx, func(snap Snapshot) error {
				t = &txn{s: s, snap: snap, at: at, actor: actor, attempt: attempt}
				ruleErr := rule(t)
				// The schema is checked after the rule, which changes
				// nothing outside its txn, so that the rule's first read
				// is the snapshot's first: on etcd one round trip that
				// also brings the meta table, where the schema is. A rule
				// that failed on a layout it does not know is told so.
				schema, err := snap.Get(TableMeta, metaSchema)
				if err != nil {
					return err
				}
				if string(schema) != Schema {
					return s.schemaError(schema)
				}
				return ruleErr
			})
		}
		if err != nil {
			return err
		}
		if len(t.marks) > 0 {
			return fmt.Errorf("store: a change wrote %s without an audit event", t.marks[0].place)
		}
		if len(t.b.Ops) == 0 {
			return nil // nothing to change
		}
		t.b.Require(TableMeta, metaSchema, []byte(Schema)) // never write a layout this build does not know
		t.b.Compact()
		if t.state != nil && t.head != nil {
			s.ix.offerState(t.head.Seq, t.head.State, *t.state) // the stream brings the change back: no need to hash it again
		}
		rev, err := s.eng.Commit(ctx, &t.b)
		if errors.Is(err, ErrStale) {
			if attempt < maxAttempts {
				continue
			}
			return ErrBusy
		}
		if err != nil {
			return s.writeError(err)
		}
		s.waitApplied(rev)
		return nil
	}
}

// maxMirrorReads bounds the records a change may read on the mirror, each
// of which becomes a condition: well within etcd's 128 a transaction
// together with the rule's own. A rule that reads more runs on a real
// snapshot.
const maxMirrorReads = 32

// onMirror runs a change's first attempt on the mirror (mirror.go), and
// returns its txn with a condition for every record it read there, ready
// to commit. It returns nil, for the attempt to run on a real snapshot,
// when the rule read what the mirror does not keep, failed, or found
// nothing to change: on records the stream may not have brought yet, only
// a change made is sure to be checked (by its conditions), not a refusal
// or a no-op.
func (s *Store) onMirror(actor Actor, rule func(*txn) error, at time.Time, attempt int) *txn {
	if attempt != 1 {
		return nil
	}
	ms := s.ix.mirrorSnapshot()
	if ms == nil {
		return nil
	}
	t := &txn{s: s, snap: ms, at: at, actor: actor, attempt: attempt}
	if err := rule(t); err != nil || ms.missed || len(t.b.Ops) == 0 || len(ms.read) > maxMirrorReads {
		return nil
	}
	if schema, _ := ms.Get(TableMeta, metaSchema); string(schema) != Schema {
		return nil
	}
	for _, c := range ms.read {
		t.b.Require(c.Table, c.Key, c.Value)
	}
	return t
}

var errReadOnly = errors.New("the database is open read-only")

// writeError gives an engine's refusal the store's wording.
func (s *Store) writeError(err error) error {
	var we *WriteError
	if errors.As(err, &we) {
		s.writeErrors.Add(1)
		return err
	}
	s.writeErrors.Add(1)
	if errors.Is(err, ErrWriteFailed) {
		return err
	}
	return &WriteError{Path: s.name, Err: err}
}

func tkey(t Table, key []byte) string { return string(t) + "\x00" + string(key) }

// get reads key as this attempt sees it: its own writes over the snapshot.
func (t *txn) get(tb Table, key []byte) ([]byte, error) {
	if v, ok := t.written[tkey(tb, key)]; ok {
		return v, nil
	}
	return t.snap.Get(tb, key)
}

func (t *txn) put(tb Table, key, value []byte) {
	if t.written == nil {
		t.written = map[string][]byte{}
	}
	t.written[tkey(tb, key)] = value
	t.b.Put(tb, key, value)
}

func (t *txn) del(tb Table, key []byte) {
	if t.written == nil {
		t.written = map[string][]byte{}
	}
	t.written[tkey(tb, key)] = nil
	t.b.Delete(tb, key)
}

// nextID hands out the next id of a counter (apps, keys).
func (t *txn) nextID(name []byte) (uint64, error) {
	if t.counter == nil {
		t.counter = map[string]uint64{}
	}
	n, ok := t.counter[string(name)]
	if !ok {
		v, err := t.snap.Get(TableMeta, name)
		if err != nil {
			return 0, err
		}
		if v != nil {
			if len(v) != 8 {
				return 0, fmt.Errorf("damaged record: counter %s", name)
			}
			n = btoi(v)
		}
		t.b.Require(TableMeta, name, v)
	}
	n++
	t.counter[string(name)] = n
	t.put(TableMeta, name, itob(n))
	return n, nil
}

// record appends ev to the audit trail in this change, by the txn's actor
// at its time: the change and its record commit or fail together. The
// batch requires the audit head it read, so two processes can never give
// two events one number.
func (t *txn) record(ev Event) error {
	return t.recordBy(t.actor, t.at, ev)
}

// The event commits to the state the change leaves (statekeep.go) and
// marks the records it wrote since the event before.
func (t *txn) recordBy(actor Actor, at time.Time, ev Event) error {
	if err := t.loadHead(); err != nil {
		return err
	}
	t.head.Seq++
	ev.Seq, ev.At = t.head.Seq, at
	ev.Actor, ev.Role, ev.Origin = actor.Name, actor.Role, actor.Origin
	var err error
	if ev.State, ev.Records, err = t.takeState(ev.Seq); err != nil {
		return err
	}
	ev.Hash = ChainHash(t.head.Hash, ev)
	t.head.Hash, t.head.State = ev.Hash, ev.State
	t.put(TableAudit, itob(ev.Seq), encode(ev))
	t.put(TableMeta, metaAuditHead, encode(t.head))
	t.events++
	return nil
}

// loadHead reads the audit head this attempt goes on from, once, and
// makes it a condition of the change: two processes can never give two
// events one number, nor keep the state hash from two different heads.
func (t *txn) loadHead() error {
	if t.head != nil {
		return nil
	}
	v, err := t.snap.Get(TableMeta, metaAuditHead)
	if err != nil {
		return err
	}
	head := &auditHead{}
	if v != nil {
		if err := decode(v, head); err != nil {
			return err
		}
	}
	t.head, t.base = head, *head
	t.b.Require(TableMeta, metaAuditHead, v)
	return nil
}

// app reads an app record.
func (t *txn) app(id uint64) (appRecord, error) {
	var rec appRecord
	v, err := t.get(TableApps, itob(id))
	if err != nil {
		return rec, err
	}
	if v == nil {
		return rec, fmt.Errorf("app %d: %w (it may have been deleted)", id, ErrNotFound)
	}
	return rec, decode(v, &rec)
}

// putApp writes an app record over the one this attempt read.
func (t *txn) putApp(rec appRecord) error { return t.replace(TableApps, itob(rec.ID), encode(rec)) }

// appNamed reports the id of the app with this folded name, or 0.
func (t *txn) appNamed(folded string) (uint64, error) {
	v, err := t.get(TableNames, []byte(folded))
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("damaged record: name index entry %q", folded)
	}
	return btoi(v), nil
}

// appKeys reads every key record of an app, oldest first.
func appKeys(snap Snapshot, appID uint64) ([]keyRecord, error) {
	var out []keyRecord
	err := snap.Scan(TableKeys, itob(appID), ScanOptions{}, func(_, v []byte) error {
		var rec keyRecord
		if err := decode(v, &rec); err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

// keyByID finds a key record by its id alone. The index knows the app of
// every key this process has seen (a key never changes app); a key it has
// not seen yet, made by another process a moment ago, is looked for in the
// snapshot itself.
func (t *txn) keyByID(keyID uint64) (keyRecord, error) {
	var rec keyRecord
	if appID, ok := t.s.ix.appOf(keyID); ok {
		v, err := t.get(TableKeys, keyKey(appID, keyID))
		if err != nil {
			return rec, err
		}
		if v != nil {
			return rec, decode(v, &rec)
		}
	}
	var at, v []byte
	err := t.snap.Scan(TableKeys, nil, ScanOptions{}, func(k, val []byte) error {
		if len(k) == 16 && btoi(k[8:]) == keyID {
			at, v = bytes.Clone(k), bytes.Clone(val)
			return ErrStop
		}
		return nil
	})
	if err != nil {
		return rec, err
	}
	if at != nil {
		if w, ok := t.written[tkey(TableKeys, at)]; ok {
			v = w // this attempt changed it
		}
	}
	if v == nil {
		return rec, fmt.Errorf("API key %d: %w (it may have been deleted)", keyID, ErrNotFound)
	}
	return rec, decode(v, &rec)
}
