package store

import (
	"bytes"
	"fmt"
)

// Keeping the state hash (statehash.go) in every change: each write of an
// app or key record takes the record it replaces out of the hash and adds
// the new one, and the next audit event commits to the result. The hash's
// lanes sit in the meta table beside the audit head, whose digest of them
// every change compares and swaps with the head: the lanes are read
// without a condition of their own (on etcd that would send them twice),
// and used only when they match the head's digest.

// errStateAstray is lanes that do not match the head's digest of them:
// written behind the store's back, or read from the mirror mid-change.
var errStateAstray = fmt.Errorf("%w: the state hash kept with the audit head does not match the head "+
	"(run apiscopes check)", ErrDamaged)

// peeker is a snapshot that can read a record without making it a
// condition of the change (the mirror).
type peeker interface {
	peek(t Table, key []byte) []byte
}

// loadState reads the state hash this attempt goes on from, once.
func (t *txn) loadState() error {
	if t.state != nil {
		return nil
	}
	if err := t.loadHead(); err != nil {
		return err
	}
	var v []byte
	if p, ok := t.snap.(peeker); ok {
		v = p.peek(TableMeta, metaState)
	} else {
		var err error
		if v, err = t.snap.Get(TableMeta, metaState); err != nil {
			return err
		}
	}
	var h StateHash
	sum := emptyState
	if v != nil {
		var err error
		if h, err = ParseStateHash(v); err != nil {
			return err
		}
		sum = sumOf(v)
	}
	if sum != t.head.state() {
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
	if old != nil {
		t.state.Remove(tb, key, old)
	}
	place := statePlace(tb, key)
	if value != nil {
		d := recordDigest(tb, key, value)
		t.state.apply(d, false)
		t.put(tb, key, value)
		t.mark(place, markOf(place, d))
	} else {
		t.del(tb, key)
		t.mark(place, place+" -")
	}
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
// the database, in one range removal.
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
	for tk, v := range t.written { // keys this attempt wrote under the app
		if k, ok := bytes.CutPrefix([]byte(tk), []byte(string(TableKeys)+"\x00")); ok && v != nil && bytes.HasPrefix(k, prefix) {
			t.state.Remove(TableKeys, k, v)
		}
	}
	t.b.DeletePrefix(TableKeys, prefix)
	for tk := range t.written {
		if k, ok := bytes.CutPrefix([]byte(tk), []byte(string(TableKeys)+"\x00")); ok && bytes.HasPrefix(k, prefix) {
			t.written[tk] = nil
		}
	}
	return nil
}

// mark notes a record's mark for the next event; a record written twice
// before it keeps its place and its last mark.
func (t *txn) mark(place, mark string) {
	if i, ok := t.markAt[place]; ok {
		t.marks[i] = mark
		return
	}
	if t.markAt == nil {
		t.markAt = map[string]int{}
	}
	t.markAt[place] = len(t.marks)
	t.marks = append(t.marks, mark)
}

// takeState is what the next event carries: the digest of the state it
// leaves and the marks of the records written since the event before. The
// lanes are written with it; an event that wrote no record leaves the
// head's state as it was.
func (t *txn) takeState() (string, []string) {
	if len(t.marks) == 0 {
		return t.head.state(), nil
	}
	marks := t.marks
	t.marks, t.markAt = nil, nil
	lanes := t.state.Bytes()
	t.put(TableMeta, metaState, lanes)
	return sumOf(lanes), marks
}
