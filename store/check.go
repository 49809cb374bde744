package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
)

// maxProblems bounds how many problems a check reports: enough to diagnose a
// damaged database, short enough to read.
const maxProblems = 20

// DamageError says what is wrong with a database whose records do not hold
// together (or, on a file, whose pages do not). It matches ErrDamaged.
type DamageError struct {
	Path     string
	Problems []string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%s: %v: %s (restore a backup: see \"Restoring a backup\" in docs/operations.md)",
		e.Path, ErrDamaged, strings.Join(e.Problems, "; "))
}

func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// Checker is an engine that can also check its own medium (a file's pages).
type Checker interface {
	CheckMedium() error
}

// UncheckedError is the part of a medium's check an engine could not run
// (on etcd, comparing the members' data needs the cluster's root user),
// returned only when the rest found nothing wrong.
type UncheckedError struct {
	What string // what was not checked
	Why  string // why not, and what would let it be
}

func (e *UncheckedError) Error() string { return e.What + " was not checked: " + e.Why }

// Check verifies the whole database: the engine's own check of its medium
// where it has one, and the store's invariants on one snapshot (every key's
// app exists, the digest and name indexes match the records, each app's key
// count is right, ids stay below their counters, the audit trail has no
// hole and its hash chain holds, the apps and keys are the state the trail
// commits to, and every signed head is in the trail). It reads every
// record; a nil result means the database is sound.
func (s *Store) Check(ctx context.Context, opts ...CheckOption) error {
	if err := s.CheckRecords(ctx, opts...); err != nil {
		return err
	}
	if c, ok := s.eng.(Checker); ok {
		return c.CheckMedium()
	}
	return nil
}

// CheckRecords is Check without the engine's check of its medium, for a
// caller that has just had it run (opening a file checks its pages).
func (s *Store) CheckRecords(ctx context.Context, opts ...CheckOption) error {
	var o checkOptions
	for _, opt := range opts {
		opt(&o)
	}
	return s.eng.Read(ctx, func(snap Snapshot) error { return checkAll(s.name, snap, o) })
}

// CheckOption configures Check.
type CheckOption func(*checkOptions)

type checkOptions struct {
	auditKeys []ed25519.PublicKey
}

// WithAuditKeys has Check verify every signed audit head it finds
// (signhead.go) with these public keys, and fail when it finds none: a
// head signed by another key, or not at all, is a problem.
func WithAuditKeys(keys ...ed25519.PublicKey) CheckOption {
	return func(o *checkOptions) { o.auditKeys = append(o.auditKeys, keys...) }
}

// checkSnapshot runs the store's invariants on a snapshot, but for the
// state hash and the signed heads: what a store checks as it opens.
func checkSnapshot(name string, snap Snapshot) error {
	return runChecker(name, &checker{snap: snap})
}

// checkAll is the whole check of a snapshot's records.
func checkAll(name string, snap Snapshot, o checkOptions) error {
	return runChecker(name, &checker{snap: snap, full: true, opts: o})
}

func runChecker(name string, c *checker) error {
	c.run()
	if len(c.problems) > 0 {
		return &DamageError{Path: name, Problems: c.problems}
	}
	return nil
}

// checker walks the tables once, collecting what does not agree.
type checker struct {
	snap     Snapshot
	full     bool // the state hash and the signed heads too
	opts     checkOptions
	problems []string
	appSeq   uint64
	keySeq   uint64
	// keyDigests is each sound key record's digest, by the key's place
	// (app id ‖ key id): the digests step compares entries against it
	// instead of decoding every key record a second time.
	keyDigests map[[16]byte][32]byte
	state      StateHash // of the app and key records, as read (full only)
}

var errTooMany = errors.New("too many problems")

func (c *checker) addf(format string, a ...any) error {
	c.problems = append(c.problems, fmt.Sprintf(format, a...))
	if len(c.problems) >= maxProblems {
		return errTooMany
	}
	return nil
}

func (c *checker) run() {
	steps := []func() error{c.meta, c.apps, c.names, c.keys, c.digests, c.policies, c.audit}
	if c.full {
		steps = append(steps, c.stateHash, c.signedHeads)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			if !errors.Is(err, errTooMany) {
				c.problems = append(c.problems, err.Error())
			}
			return
		}
	}
}

func (c *checker) counter(key []byte) (uint64, error) {
	v, err := c.snap.Get(TableMeta, key)
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, c.addf("counter %s is malformed", key)
	}
	return btoi(v), nil
}

func (c *checker) meta() (err error) {
	if c.appSeq, err = c.counter(metaAppSeq); err != nil {
		return err
	}
	c.keySeq, err = c.counter(metaKeySeq)
	return err
}

// apps: each record decodes, sits under its own id below the app counter,
// has a name index entry, and counts exactly the keys under its prefix.
func (c *checker) apps() error {
	return c.snap.Scan(TableApps, nil, ScanOptions{}, func(k, v []byte) error {
		if c.full {
			c.state.Add(TableApps, k, v)
		}
		var rec appRecord
		if err := decode(v, &rec); err != nil {
			return c.addf("app %s: %v", recordID(k), err)
		}
		if len(k) != 8 || btoi(k) != rec.ID {
			return c.addf("app record %d is stored under key %x", rec.ID, k)
		}
		if rec.ID > c.appSeq {
			return c.addf("app %d is above the app counter %d: ids could be reused", rec.ID, c.appSeq)
		}
		id, err := c.snap.Get(TableNames, []byte(FoldName(rec.Name)))
		if err != nil {
			return err
		}
		if len(id) != 8 || btoi(id) != rec.ID {
			return c.addf("app %d: its name has no entry in the name index", rec.ID)
		}
		n := 0
		if err := c.snap.Scan(TableKeys, k, ScanOptions{}, func(_, _ []byte) error { n++; return nil }); err != nil {
			return err
		}
		if n != rec.Keys {
			return c.addf("app %d counts %d keys but has %d", rec.ID, rec.Keys, n)
		}
		return nil
	})
}

// names: each entry points at an app of that (folded) name.
func (c *checker) names() error {
	return c.snap.Scan(TableNames, nil, ScanOptions{}, func(k, v []byte) error {
		if len(v) != 8 {
			return c.addf("name index entry %q is not an app id", k)
		}
		raw, err := c.snap.Get(TableApps, v)
		if err != nil {
			return err
		}
		if raw == nil {
			return c.addf("name index entry %q points at missing app %d", k, btoi(v))
		}
		var rec appRecord
		if err := decode(raw, &rec); err != nil {
			return nil // reported by apps
		}
		if FoldName(rec.Name) != string(k) {
			return c.addf("name index entry %q points at app %d, named %q", k, rec.ID, rec.Name)
		}
		return nil
	})
}

// keys: each record decodes, sits under its app and id below the key
// counter, belongs to an existing app and has its digest entry.
func (c *checker) keys() error {
	return c.snap.Scan(TableKeys, nil, ScanOptions{}, func(k, v []byte) error {
		if c.full {
			c.state.Add(TableKeys, k, v)
		}
		var rec keyRecord
		if err := decode(v, &rec); err != nil {
			return c.addf("key %s: %v", recordID(k), err)
		}
		if len(k) != 16 || btoi(k[:8]) != rec.AppID || btoi(k[8:]) != rec.ID {
			return c.addf("key record %d is stored under key %x", rec.ID, k)
		}
		if rec.ID > c.keySeq {
			return c.addf("key %d is above the key counter %d: ids could be reused", rec.ID, c.keySeq)
		}
		app, err := c.snap.Get(TableApps, k[:8])
		if err != nil {
			return err
		}
		if app == nil {
			return c.addf("key %d belongs to missing app %d", rec.ID, rec.AppID)
		}
		if len(rec.Digest) != 32 {
			return c.addf("key %d has a %d-byte digest", rec.ID, len(rec.Digest))
		}
		at, err := c.snap.Get(TableDigests, rec.Digest)
		if err != nil {
			return err
		}
		if !bytes.Equal(at, k) {
			return c.addf("key %d has no entry in the digest index", rec.ID)
		}
		if c.keyDigests == nil {
			c.keyDigests = map[[16]byte][32]byte{}
		}
		c.keyDigests[[16]byte(k)] = [32]byte(rec.Digest)
		return nil
	})
}

// digests: each entry names a key by app and id; where that key exists it
// has this digest. An entry whose key is gone is left from an app's
// deletion, to be swept: it is never taken for a key.
func (c *checker) digests() error {
	return c.snap.Scan(TableDigests, nil, ScanOptions{}, func(k, v []byte) error {
		if len(v) != 16 || len(k) != 32 {
			return c.addf("digest index entry %x is malformed", k)
		}
		if d, ok := c.keyDigests[[16]byte(v)]; ok {
			if d != [32]byte(k) {
				return c.addf("digest index entry %x points at key %d, which has another digest", k, btoi(v[8:]))
			}
			return nil
		}
		// No sound key record there: gone (swept later), or damaged (keys
		// reported it).
		return nil
	})
}

// policies: the key policy and each approval request decode, each request
// under its own id below its counter. Both are in the state hash.
func (c *checker) policies() error {
	if v, err := c.snap.Get(TableMeta, metaPolicy); err != nil {
		return err
	} else if v != nil {
		if c.full {
			c.state.Add(TableMeta, metaPolicy, v)
		}
		var r policyRecord
		if err := decode(v, &r); err != nil {
			return c.addf("the key policy: %v", err)
		}
	}
	seq, err := c.counter(metaApprSeq)
	if err != nil {
		return err
	}
	return c.snap.Scan(TableApprovals, nil, ScanOptions{}, func(k, v []byte) error {
		if c.full {
			c.state.Add(TableApprovals, k, v)
		}
		var r approvalRecord
		if err := decode(v, &r); err != nil {
			return c.addf("approval request %s: %v", recordID(k), err)
		}
		if len(k) != 8 || btoi(k) != r.ID {
			return c.addf("approval request %d is stored under key %x", r.ID, k)
		}
		if r.ID > seq {
			return c.addf("approval request %d is above its counter %d: ids could be reused", r.ID, seq)
		}
		return nil
	})
}

// audit: events are numbered 1, 2, … up to the head with no hole, and each
// decodes under its own number.
func (c *checker) audit() error {
	var head auditHead
	v, err := c.snap.Get(TableMeta, metaAuditHead)
	if err != nil {
		return err
	}
	if v != nil {
		if err := decode(v, &head); err != nil {
			return c.addf("audit head: %v", err)
		}
	}
	want := uint64(1)
	err = c.snap.Scan(TableAudit, nil, ScanOptions{}, func(k, v []byte) error {
		if len(k) != 8 {
			return c.addf("audit entry %x is malformed", k)
		}
		seq := btoi(k)
		if seq != want {
			return c.addf("audit trail jumps from %d to %d: events are missing", want-1, seq)
		}
		want++
		var ev Event
		if err := decode(v, &ev); err != nil {
			return c.addf("audit event %d: %v", seq, err)
		}
		if ev.Seq != seq {
			return c.addf("audit event %d is stored under %d", ev.Seq, seq)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if last := want - 1; last != head.Seq {
		return c.addf("audit trail ends at %d but its head is %d: events are missing", last, head.Seq)
	}
	if _, err := verifyChain(c.snap); err != nil {
		return c.addf("%v", err)
	}
	return nil
}

// recordID shows a record's key as its id, or in hex if it is not one.
func recordID(k []byte) string {
	if len(k) == 8 {
		return fmt.Sprint(btoi(k))
	}
	return fmt.Sprintf("%x", k)
}
