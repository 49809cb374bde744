package store

import (
	"context"
	"errors"
)

// Engine is where a Store keeps its records: an ordered key-value store of a
// few tables, read in consistent snapshots and changed by atomic,
// conditional batches. The store's rules (names, roles, key lifecycle, the
// audit trail) run above it and are the same on every engine; an engine
// knows nothing of them.
//
// The shape fits a store without interactive transactions, such as etcd: a
// rule reads one snapshot, produces a Batch of writes plus the conditions
// under which they are still right, and the engine applies the whole batch
// in one step, or none of it and ErrStale if a condition no longer holds.
// The store then runs the rule again on a fresh snapshot.
//
// An engine is valid when it passes the conformance suite in
// apiscopes/store/storetest.
type Engine interface {
	// Read calls fn with a snapshot of every table at one revision. The
	// snapshot is valid only until fn returns.
	Read(ctx context.Context, fn func(Snapshot) error) error

	// Commit applies b atomically if all of its conditions hold, and returns
	// the revision it created. If a condition fails it changes nothing and
	// returns an error matching ErrStale. A refusal of the medium (a full
	// disk, a lost quorum) is an error matching ErrWriteFailed.
	Commit(ctx context.Context, b *Batch) (revision uint64, err error)

	// Follow calls apply with every change set committed after revision
	// after, by this process or any other, exactly once and in revision
	// order, until stop is called or the engine closes. A change set whose
	// revision the engine can no longer deliver (compacted away) is replaced
	// by one with Resync set: the follower reads a new snapshot.
	Follow(after uint64, apply func(ChangeSet)) (stop func(), err error)

	// Close releases the engine. Calling it again does nothing.
	Close() error
}

// BatchLimiter is an engine whose one change may hold more than etcd's
// default limits on a transaction (128 operations, 1.5 MiB), which the
// store keeps to for any engine that does not say otherwise. A bulk load
// sizes its changes by it: a file commits (and syncs) once for thousands
// of records where a cluster needs a transaction for every hundred.
type BatchLimiter interface {
	// BatchLimits is the most operations, and the most bytes of keys and
	// values, one change should hold.
	BatchLimits() (ops, bytes int)
}

// Table names one keyspace of records. Keys within a table are ordered
// bytewise.
type Table string

// The tables of the apiscopes schema (version 4). Keys are big-endian ids so
// that bytewise order is numeric order.
const (
	TableMeta    Table = "meta"    // schema version, id counters, the audit head, usage tracking start
	TableApps    Table = "apps"    // app id → app record
	TableNames   Table = "names"   // folded app name → app id
	TableKeys    Table = "keys"    // app id ‖ key id → key record (an app's keys share its prefix)
	TableDigests Table = "digests" // SHA-256 of key text → app id ‖ key id (may outlive its key until swept)
	TableAudit   Table = "audit"   // sequence → audit event
	TableUsage   Table = "usage"   // "k" ‖ key id → last use; "s" ‖ app id ‖ scope id → use of a scope (usage.go)
	TableSigned  Table = "signed"  // sequence → the audit head as signed then (signhead.go)
	// TableApprovals holds the approval requests waiting for a second
	// admin (approvals.go): id → request. A request decided or expired is
	// removed; the audit trail keeps its story.
	TableApprovals Table = "approvals"
)

// Tables lists every table of the schema, in a fixed order.
var Tables = []Table{TableMeta, TableApps, TableNames, TableKeys, TableDigests, TableAudit, TableUsage, TableSigned,
	TableApprovals}

// Snapshot is a consistent, read-only view of the tables at one revision.
// Slices it returns belong to the caller.
type Snapshot interface {
	// Revision is the engine's revision the snapshot shows.
	Revision() uint64
	// Get returns the value under key, or nil if there is none.
	Get(t Table, key []byte) ([]byte, error)
	// Scan calls fn with every entry of t whose key starts with prefix, in
	// key order (or reverse order), starting at (or, in reverse, before)
	// from when from is set. The slices are valid only during the call.
	// fn returning ErrStop ends the scan with a nil error.
	Scan(t Table, prefix []byte, o ScanOptions, fn func(key, value []byte) error) error
}

// ScanOptions narrows a Snapshot.Scan.
type ScanOptions struct {
	From    []byte // first key (forward) or first key not visited (reverse); nil: the prefix's edge
	Reverse bool
}

// OpKind says what an Op does.
type OpKind uint8

const (
	OpPut          OpKind = iota + 1 // set Key to Value
	OpDelete                         // remove Key
	OpDeletePrefix                   // remove every key starting with Key
)

// Op is one write of a Batch.
type Op struct {
	Kind  OpKind
	Table Table
	Key   []byte
	Value []byte
}

// Cond is a condition a Batch commits under: the value under Key is exactly
// Value, or, with Value nil, there is no such key.
type Cond struct {
	Table Table
	Key   []byte
	Value []byte
}

// Batch is the write set of one change and the conditions it needs.
type Batch struct {
	Conds []Cond
	Ops   []Op
}

// Put adds a write of value under key.
func (b *Batch) Put(t Table, key, value []byte) { b.Ops = append(b.Ops, Op{OpPut, t, key, value}) }

// Delete adds the removal of key.
func (b *Batch) Delete(t Table, key []byte) { b.Ops = append(b.Ops, Op{OpDelete, t, key, nil}) }

// DeletePrefix adds the removal of every key of t starting with prefix.
func (b *Batch) DeletePrefix(t Table, prefix []byte) {
	b.Ops = append(b.Ops, Op{OpDeletePrefix, t, prefix, nil})
}

// Require adds the condition that key holds value (nil: that it is absent).
func (b *Batch) Require(t Table, key, value []byte) {
	b.Conds = append(b.Conds, Cond{t, key, value})
}

// Compact leaves one operation per key, the last: a rule that writes a
// record twice (an app's key count, an id counter) sends it once, as etcd
// requires of a transaction; and one of each condition.
func (b *Batch) Compact() {
	last := make(map[string]int, len(b.Ops))
	for i, op := range b.Ops {
		if op.Kind != OpDeletePrefix {
			last[tkey(op.Table, op.Key)] = i
		}
	}
	out := b.Ops[:0]
	for i, op := range b.Ops {
		if op.Kind == OpDeletePrefix || last[tkey(op.Table, op.Key)] == i {
			out = append(out, op)
		}
	}
	b.Ops = out
	// A condition asked for twice is checked once; two that differ on one
	// key both stay, and the commit fails as it must.
	type cond struct {
		table      Table
		key, value string
		absent     bool // unlike an empty value
	}
	seen := make(map[cond]bool, len(b.Conds))
	conds := b.Conds[:0]
	for _, c := range b.Conds {
		k := cond{c.Table, string(c.Key), string(c.Value), c.Value == nil}
		if !seen[k] {
			seen[k] = true
			conds = append(conds, c)
		}
	}
	b.Conds = conds
}

// ChangeSet is what one commit changed, as the engine's change stream
// delivers it: every key put or removed (a prefix removal as one entry per
// key it removed), in no particular order.
type ChangeSet struct {
	Revision uint64
	Changes  []Change
	Resync   bool // the stream lost changes: read a new snapshot instead
}

// Change is one key of a ChangeSet; a nil Value means it was removed.
type Change struct {
	Table Table
	Key   []byte
	Value []byte
}

// Errors of engines.
var (
	// ErrStale is a Commit refused because a condition no longer held:
	// someone else changed what the batch was computed from.
	ErrStale = errors.New("the records changed since they were read")
	// ErrClosed is an operation on a closed engine or store.
	ErrClosed = errors.New("the database is closed")
)
