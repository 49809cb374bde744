package store

import (
	"context"
	"errors"
	"fmt"
)

// How much of a database a store checks as it opens, and when.
//
// Checking every record, the audit trail's hash chain and (on a file)
// every page costs time in proportion to everything ever stored: a minute
// at a million keys. A store that serves checks needs only its index to
// answer, so OpenCheck lets it load the index first and check afterwards,
// in the background. Until that check has passed nothing is written: no
// change, no sweep, no last-used time. Should it find damage, every check
// answers Damaged (never allowed), the store is not Ready, and every
// change is refused: the file stays exactly as it was.

// OpenCheck says how much of the database New checks, and when.
type OpenCheck int

const (
	// CheckFirst checks every record (and the trail's chain) before New
	// returns; the engine's own check of its medium is its opener's
	// business (bolt.Open). The default.
	CheckFirst OpenCheck = iota
	// CheckBehind loads the index first and checks the whole database in
	// the background: the engine's medium (a file's pages) where it can
	// check it, then every record and the trail's chain. Changes wait for
	// the check to pass (Checked says when); Verify answers from the index
	// meanwhile, and Damaged once the check has failed. For serve and the
	// console.
	CheckBehind
	// CheckTail checks, before New returns, what a change builds on: the
	// counters, the audit head and the trail since the newest checkpoint of
	// the state hash (its chain and the state it commits to); the index's
	// load decodes every app and key record besides. For one command's
	// change on a file nobody holds: a full check of a large database would
	// cost the command a minute. `apiscopes check` checks everything.
	CheckTail
)

// WithOpenCheck sets how much of the database New checks, and when
// (CheckFirst unless given). An older schema is always checked in full
// before it is migrated.
func WithOpenCheck(c OpenCheck) Option { return func(o *options) { o.check = c } }

// errCheckStopped ends a check the store's Close interrupted.
var errCheckStopped = errors.New("the store closed before its check ended")

// Checked is closed once the check New began has ended, passed or
// failed: at once unless the store was opened with CheckBehind. Changes
// wait for it; Damaged says how it ended.
func (s *Store) Checked() <-chan struct{} { return s.checked }

// Checking reports whether the check New began in the background is still
// running: a change made now waits for it.
func (s *Store) Checking() bool {
	select {
	case <-s.checked:
		return false
	default:
		return true
	}
}

// Damaged is the damage the check found (a DamageError, matching
// ErrDamaged); nil while it runs and once it has passed.
func (s *Store) Damaged() error {
	select {
	case <-s.checked:
		if errors.Is(s.checkErr, ErrDamaged) {
			return s.checkErr
		}
	default:
	}
	return nil
}

// checkPassed reports whether the check has ended and found nothing.
func (s *Store) checkPassed() bool {
	select {
	case <-s.checked:
		return s.checkErr == nil
	default:
		return false
	}
}

// awaitCheck waits for the check to end before a change: nil once it
// passed; the damage it found; the context's error if the caller goes
// away first (nothing is written); or, when the store closes first, a
// WriteError.
func (s *Store) awaitCheck(ctx context.Context) error {
	select {
	case <-s.checked:
	default:
		select {
		case <-s.checked:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stop:
			if !s.readOnly && s.writable() {
				<-s.checked // Close waits for the check, to write the last-used times once it has passed
				break
			}
			return &WriteError{Path: s.name, Err: errCheckStopped}
		}
	}
	if errors.Is(s.checkErr, errCheckStopped) {
		return &WriteError{Path: s.name, Err: errCheckStopped}
	}
	return s.checkErr
}

// endCheck records how the check ended; damage shuts the gate, so that
// Verify answers Damaged, and has every console read again (and find it
// can no longer write).
func (s *Store) endCheck(err error) {
	s.checkErr = err
	if errors.Is(err, ErrDamaged) {
		s.gate.shut.Or(gateDamaged)
	}
	close(s.checked)
	if errors.Is(err, ErrDamaged) {
		s.log.Error("the database is damaged: every check answers 503 damaged and nothing is written; "+
			"restore a backup (see \"Restoring a backup\" in docs/operations.md)", "db", s.name, "err", err)
		s.feed.resync()
	}
}

// checkBehind runs the whole check in the background, once the index is
// loaded; then, if it passed, the sweep that opening a file does (rolled
// keys whose grace ended while no process held it).
func (s *Store) checkBehind(medium bool) {
	defer close(s.checkEnded)
	err := s.eng.Read(context.Background(), func(snap Snapshot) error {
		return checkSnapshot(s.name, stoppable{snap, s.abandon})
	})
	if s.abandoned() {
		err = errCheckStopped
	}
	if c, ok := s.eng.(Checker); ok && err == nil && medium {
		var unchecked *UncheckedError
		if err = c.CheckMedium(); errors.As(err, &unchecked) {
			err = nil // what the engine cannot check (a cluster's members) is not damage
		}
	}
	if err != nil && !errors.Is(err, ErrDamaged) && !errors.Is(err, errCheckStopped) {
		// A read that failed (a disk error) is not known damage, but the
		// file was not shown sound either: nothing is written.
		err = &DamageError{Path: s.name, Problems: []string{fmt.Sprintf("cannot be read whole: %v", err)}}
	}
	s.endCheck(err)
	if err != nil || s.readOnly || s.leads != nil || !s.writable() {
		return
	}
	if err := s.sweepAll(context.Background()); err != nil && !s.closing() {
		s.log.Warn("deleting rolled keys at open failed; it is tried again", "db", s.name, "err", err)
	}
}

// closing reports whether Close has begun.
func (s *Store) closing() bool { return !s.IsOpen() }

// abandoned reports whether Close gave up the check (a read-only store:
// it has nothing to write once the check passed).
func (s *Store) abandoned() bool {
	select {
	case <-s.abandon:
		return true
	default:
		return false
	}
}

// stoppable is a snapshot whose scans end once stop is closed: a check
// in the background gives way to the store's Close.
type stoppable struct {
	Snapshot
	stop <-chan struct{}
}

func (w stoppable) Scan(t Table, prefix []byte, o ScanOptions, fn func(k, v []byte) error) error {
	n := 0
	return w.Snapshot.Scan(t, prefix, o, func(k, v []byte) error {
		if n++; n&1023 == 0 {
			select {
			case <-w.stop:
				return errCheckStopped
			default:
			}
		}
		return fn(k, v)
	})
}

// checkTail checks what a change builds on (CheckTail): the counters
// decode, the audit head decodes, and the trail from the newest checkpoint
// of the state hash to the head has no hole, each event follows from the
// one before by its hash, and the state it arrives at is the one the head
// commits to.
func checkTail(name string, snap Snapshot) error {
	c := &checker{snap: snap}
	if err := c.meta(); err != nil || len(c.problems) > 0 {
		return tailResult(name, c, err)
	}
	var head auditHead
	v, err := snap.Get(TableMeta, metaAuditHead)
	if err != nil {
		return err
	}
	if v != nil {
		if err := decode(v, &head); err != nil {
			c.addf("audit head: %v", err)
			return tailResult(name, c, nil)
		}
	}
	schema, err := snap.Get(TableMeta, metaSchema)
	if err != nil {
		return err
	}
	cp, err := snap.Get(TableMeta, metaState)
	if err != nil {
		return err
	}
	h, from, err := parseCheckpoint(cp)
	if err != nil {
		c.addf("%v", err)
		return tailResult(name, c, nil)
	}
	if !keepsState(string(schema)) {
		from = 0 // no checkpoint: the chain alone, from the newest event back to a bound
	}
	if from > head.Seq {
		c.addf("the state hash's checkpoint is at event %d, past the audit head %d", from, head.Seq)
		return tailResult(name, c, nil)
	}
	if head.Seq-from > tailBound {
		from = head.Seq - tailBound // the chain's tail alone; the state is the full check's
		h = StateHash{}
		schema = nil
	}
	prev := ""
	if from > 0 {
		raw, err := snap.Get(TableAudit, itob(from))
		if err != nil {
			return err
		}
		var ev Event
		if raw == nil || decode(raw, &ev) != nil || ev.Seq != from {
			c.addf("audit event %d, where the tail's check starts, is missing or cannot be read", from)
			return tailResult(name, c, nil)
		}
		prev = ev.Hash
	}
	seq := from
	err = snap.Scan(TableAudit, nil, ScanOptions{From: itob(from + 1)}, func(k, v []byte) error {
		var ev Event
		if err := decode(v, &ev); err != nil {
			return c.addf("audit event %s: %v", recordID(k), err)
		}
		if len(k) != 8 || btoi(k) != seq+1 || ev.Seq != seq+1 {
			return c.addf("audit trail jumps from %d to %d: events are missing", seq, ev.Seq)
		}
		if ev.Hash != ChainHash(prev, ev) {
			return c.addf("%v", &ChainError{Seq: ev.Seq, Reason: "its hash does not follow from its content and the event before"})
		}
		if keepsState(string(schema)) {
			if err := h.applyMarks(ev.Records); err != nil {
				return c.addf("audit event %d: %v", ev.Seq, err)
			}
		}
		prev, seq = ev.Hash, ev.Seq
		return nil
	})
	if err != nil && !errors.Is(err, errTooMany) {
		return err
	}
	if len(c.problems) == 0 {
		switch {
		case seq != head.Seq || prev != head.Hash:
			c.addf("%v", &ChainError{Seq: seq + 1, Reason: fmt.Sprintf("the trail ends at event %d but its head says event %d", seq, head.Seq)})
		case keepsState(string(schema)) && h.Sum() != head.state():
			c.addf("the apps and keys are not the state the audit head commits to")
		}
	}
	return tailResult(name, c, nil)
}

// tailBound is how many events the tail's check reads at most, should the
// newest checkpoint be further back (checkpoints are at most
// checkpointEvery apart in a sound database).
const tailBound = 4 * checkpointEvery

func tailResult(name string, c *checker, err error) error {
	if err != nil && !errors.Is(err, errTooMany) {
		return err
	}
	if len(c.problems) > 0 {
		return &DamageError{Path: name, Problems: c.problems}
	}
	return nil
}
