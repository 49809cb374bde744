package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Keeping the state hash (statehash.go) in every change: each write of an
// app or key record takes the record it replaces out of the hash and adds
// the new one, and the next audit event commits to the result (State) and
// carries, for each record, the digests of the record it wrote and of the
// one it replaced (Records). Those are the hash's changes: every store
// keeps the hash in memory from its change stream by them (statefollow.go),
// so a change need not write the hash's 2 KiB of lanes. The lanes are
// written as a checkpoint, with the event they are at, every
// checkpointEvery events and by a change whose event cannot carry its
// records (an app removed with all its keys); the checkpoint and the
// events after it give the hash at the head, which its digest proves.

// checkpointEvery is how many events apart checkpoints are at most, but
// for the changes that write one anyway: what a store opening, or a change
// on records the stream has not brought yet, replays.
const checkpointEvery = 256

// errStateAstray is a state hash that does not match the head's digest of
// it: its checkpoint or the events after it were changed behind the
// store's back.
var errStateAstray = fmt.Errorf("%w: the state hash kept with the audit head does not match the head "+
	"(run apiscopes check)", ErrDamaged)

// markEntry is what the next event says of a record written since the
// event before: where it is, its digest now and before (nil: none).
type markEntry struct {
	place    string
	now, was *[sha256.Size]byte
}

// String is the mark as events carry it: "key 3/17 NOW WAS", each digest
// in hex or "-" for no record.
func (m markEntry) String() string {
	return m.place + " " + digestText(m.now) + " " + digestText(m.was)
}

func digestText(d *[sha256.Size]byte) string {
	if d == nil {
		return "-"
	}
	return hex.EncodeToString(d[:])
}

// parseMark reads a mark: the record's place, and its digests now and
// before (nil: no record).
func parseMark(m string) (place string, now, was *[sha256.Size]byte, err error) {
	rest, wasText, ok1 := cutLast(m)
	place, nowText, ok2 := cutLast(rest)
	if !ok1 || !ok2 || place == "" {
		return "", nil, nil, fmt.Errorf("damaged record: mark %q", m)
	}
	if now, err = parseDigest(nowText); err == nil {
		was, err = parseDigest(wasText)
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("damaged record: mark %q", m)
	}
	return place, now, was, nil
}

func cutLast(s string) (before, last string, ok bool) {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func parseDigest(s string) (*[sha256.Size]byte, error) {
	if s == "-" {
		return nil, nil
	}
	var d [sha256.Size]byte
	if n, err := hex.Decode(d[:], []byte(s)); err != nil || n != len(d) || len(s) != 2*len(d) {
		return nil, fmt.Errorf("not a digest")
	}
	return &d, nil
}

// applyMarks changes h by an event's marks: each record's digest before
// out, its digest now in.
func (h *StateHash) applyMarks(marks []string) error {
	for _, m := range marks {
		_, now, was, err := parseMark(m)
		if err != nil {
			return err
		}
		if was != nil {
			h.apply(*was, true)
		}
		if now != nil {
			h.apply(*now, false)
		}
	}
	return nil
}

// A checkpoint is the event number it is at (8 bytes, big-endian) and the
// lanes then.
func checkpointBytes(seq uint64, lanes []byte) []byte { return append(itob(seq), lanes...) }

func parseCheckpoint(v []byte) (StateHash, uint64, error) {
	if v == nil {
		return StateHash{}, 0, nil // no change has written one: the empty state before the first event
	}
	if len(v) != 8+stateSize {
		return StateHash{}, 0, fmt.Errorf("damaged record: the state hash's checkpoint has %d bytes, not %d", len(v), 8+stateSize)
	}
	h, err := ParseStateHash(v[8:])
	return h, btoi(v[:8]), err
}

// deriveState is the state hash at a snapshot's newest event: its
// checkpoint, then the marks of every event after it. It returns the hash
// and the event it is at. On the mirror it fails as a read the mirror does
// not keep (the audit table), for the change to run on a real snapshot.
func deriveState(snap Snapshot) (StateHash, uint64, error) {
	v, err := snap.Get(TableMeta, metaState)
	if err != nil {
		return StateHash{}, 0, err
	}
	h, seq, err := parseCheckpoint(v)
	if err != nil {
		return h, seq, err
	}
	err = snap.Scan(TableAudit, nil, ScanOptions{From: itob(seq + 1)}, func(_, v []byte) error {
		var ev Event
		if err := decode(v, &ev); err != nil {
			return err
		}
		if ev.Seq != seq+1 {
			return fmt.Errorf("%w: the audit trail goes from event %d to %d", ErrDamaged, seq, ev.Seq)
		}
		if err := h.applyMarks(ev.Records); err != nil {
			return err
		}
		seq = ev.Seq
		return nil
	})
	return h, seq, err
}

// loadState finds the state hash this attempt goes on from, once: the one
// the store keeps from its change stream when it is at the snapshot's
// head, as it is but for a moment after another process's change;
// otherwise the snapshot's checkpoint and the events since.
func (t *txn) loadState() error {
	if t.state != nil {
		return nil
	}
	if err := t.loadHead(); err != nil {
		return err
	}
	// Events this attempt recorded before changed no record (one that
	// did loaded the state): the state is the one of the head as read.
	want := t.base.state()
	if t.s != nil {
		if h, ok := t.s.ix.stateAt(t.base.Seq, want); ok {
			t.state = &h
			return nil
		}
	}
	h, seq, err := deriveState(t.snap)
	if err != nil {
		return err
	}
	if seq != t.base.Seq || h.Sum() != want {
		return errStateAstray
	}
	t.state = &h
	return nil
}

// writeRecord writes value (nil: removes the record) under key of the apps
// or keys table in place of old, the record this attempt read there (nil:
// none, as for a record with a new id), keeping the state hash and the
// marks of the next event.
func (t *txn) writeRecord(tb Table, key, old, value []byte) error {
	if err := t.loadState(); err != nil {
		return err
	}
	var was, now *[sha256.Size]byte
	if old != nil {
		d := recordDigest(tb, key, old)
		was = &d
		t.state.apply(d, true)
	}
	if value != nil {
		d := recordDigest(tb, key, value)
		now = &d
		t.state.apply(d, false)
		t.put(tb, key, value)
	} else {
		t.del(tb, key)
	}
	t.mark(statePlace(tb, key), now, was)
	return nil
}

// replace is writeRecord over whatever this attempt reads under key.
func (t *txn) replace(tb Table, key, value []byte) error {
	old, err := t.get(tb, key)
	if err != nil {
		return err
	}
	return t.writeRecord(tb, key, old, value)
}

// removeAppKeys takes every key of an app out of the state hash and out of
// the database, in one range removal. The event marks the app's removal
// only, so the change writes a checkpoint.
func (t *txn) removeAppKeys(appID uint64) error {
	if err := t.loadState(); err != nil {
		return err
	}
	prefix := itob(appID)
	err := t.snap.Scan(TableKeys, prefix, ScanOptions{}, func(k, v []byte) error {
		if _, mine := t.written[tkey(TableKeys, k)]; !mine {
			t.state.Remove(TableKeys, k, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	keysTable := []byte(string(TableKeys) + "\x00")
	for tk, v := range t.written { // keys this attempt wrote under the app
		if k, ok := bytes.CutPrefix([]byte(tk), keysTable); ok && bytes.HasPrefix(k, prefix) {
			if v != nil {
				t.state.Remove(TableKeys, k, v)
			}
			t.written[tk] = nil
		}
	}
	t.b.DeletePrefix(TableKeys, prefix)
	t.checkpoint = true
	return nil
}

// mark notes a record's digests for the next event; a record written twice
// before it keeps its place, its first digest before and its last now.
func (t *txn) mark(place string, now, was *[sha256.Size]byte) {
	if i, ok := t.markAt[place]; ok {
		t.marks[i].now = now
		return
	}
	if t.markAt == nil {
		t.markAt = map[string]int{}
	}
	t.markAt[place] = len(t.marks)
	t.marks = append(t.marks, markEntry{place, now, was})
}

// takeState is what the event numbered seq carries: the digest of the
// state it leaves and the marks of the records written since the event
// before. An event that wrote no record leaves the head's state as it was.
// A checkpoint is written with the event when it is due or asked for.
func (t *txn) takeState(seq uint64) (string, []string, error) {
	due := t.checkpoint || seq%checkpointEvery == 0
	if len(t.marks) == 0 && !due {
		return t.head.state(), nil, nil
	}
	if err := t.loadState(); err != nil {
		return "", nil, err
	}
	var marks []string
	for _, m := range t.marks {
		marks = append(marks, m.String())
	}
	t.marks, t.markAt = nil, nil
	lanes := t.state.Bytes()
	if due {
		t.put(TableMeta, metaState, checkpointBytes(seq, lanes))
		t.checkpoint = false
	}
	return sumOf(lanes), marks, nil
}
