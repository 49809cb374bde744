package store

import (
	"bytes"
	"errors"
	"slices"
)

// The mirror: the records of the meta and apps tables as the change stream
// last delivered them, kept by the index (under its lock, at its
// revision). A change's first attempt runs its rule on the mirror instead
// of a snapshot of the engine, which on a cluster saves a round trip
// before the commit: every record the rule reads there becomes a
// condition of its batch, so a record the stream has not brought yet only
// costs a retry on a real snapshot. A rule that reads anything else (a
// scan, another table) is run again on a real snapshot at once.

// mirrored reports whether the mirror keeps a table: the small ones every
// change reads (the schema, id counters, the audit head, apps).
func mirrored(t Table) bool { return t == TableMeta || t == TableApps }

// errUnmirrored is what a mirror snapshot answers for what it does not keep.
var errUnmirrored = errors.New("not in the mirror")

// mirrorPut records a mirrored table's record (nil: removed); u's lock is
// held.
func (u *update) mirrorPut(t Table, key, value []byte) {
	if value == nil {
		delete(u.ix.mirror, tkey(t, key))
		return
	}
	u.ix.mirror[tkey(t, key)] = bytes.Clone(value)
}

// mirrorSnapshot is the mirror as one attempt of a rule reads it: a
// Snapshot of the two tables it keeps, noting each record it hands out.
type mirrorSnapshot struct {
	ix     *index
	rev    uint64
	read   []Cond
	seen   map[string]bool
	missed bool // the rule asked for something the mirror does not keep
}

// mirrorSnapshot returns a snapshot of the mirror, or nil while it holds
// nothing yet.
func (ix *index) mirrorSnapshot() *mirrorSnapshot {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.rev == 0 {
		return nil
	}
	return &mirrorSnapshot{ix: ix, rev: ix.rev, seen: map[string]bool{}}
}

// Revision is the index's revision when the snapshot was taken. A record
// the stream changed since is caught by the batch's conditions.
func (s *mirrorSnapshot) Revision() uint64 { return s.rev }

func (s *mirrorSnapshot) Get(t Table, key []byte) ([]byte, error) {
	if !mirrored(t) {
		s.missed = true
		return nil, errUnmirrored
	}
	k := tkey(t, key)
	s.ix.mu.Lock()
	v := bytes.Clone(s.ix.mirror[k])
	s.ix.mu.Unlock()
	if !s.seen[k] {
		s.seen[k] = true
		s.read = append(s.read, Cond{Table: t, Key: slices.Clone(key), Value: v})
	}
	return v, nil
}

func (s *mirrorSnapshot) Scan(Table, []byte, ScanOptions, func(k, v []byte) error) error {
	s.missed = true
	return errUnmirrored
}
