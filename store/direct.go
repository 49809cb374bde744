package store

import (
	"context"
	"errors"
	"fmt"
)

// Reading a database without opening a Store: a Store loads every key's
// digest and every app into its verify index, which a command that walks
// the audit trail, exports it or checks the database once has no use for.
// These functions read one snapshot of an engine as they go, holding one
// record at a time, so their memory does not grow with the database.

// ErrNotDirect is a database these functions do not read as it is: one of
// a schema older than 2 (which a Store migrates in memory to read), newer
// than this apiscopes, or none. The caller opens a Store instead, which
// reads it or says what it is.
var ErrNotDirect = errors.New("the database needs a store to be read")

// readsDirectly checks the snapshot's schema: the records of schemas 2 to 4
// are read as they are.
func readsDirectly(snap Snapshot) error {
	v, err := snap.Get(TableMeta, metaSchema)
	if err != nil {
		return err
	}
	switch string(v) {
	case SchemaV2, SchemaV3, SchemaV4:
		return nil
	}
	return ErrNotDirect
}

// ReadsDirectly says whether eng's database is read as it is by these
// functions and by a copy of its bytes: nil, or ErrNotDirect.
func ReadsDirectly(ctx context.Context, eng Engine) error {
	return eng.Read(ctx, readsDirectly)
}

// readDirect runs fn on one snapshot of eng whose schema reads directly.
func readDirect(ctx context.Context, eng Engine, fn func(Snapshot) error) error {
	return eng.Read(ctx, func(snap Snapshot) error {
		if err := readsDirectly(snap); err != nil {
			return err
		}
		return fn(snap)
	})
}

// VerifyAuditOf is Store.VerifyAudit on eng's database, walking the chain
// in one snapshot without loading anything else.
func VerifyAuditOf(ctx context.Context, eng Engine) (head AuditHead, err error) {
	readErr := readDirect(ctx, eng, func(snap Snapshot) error {
		head, err = verifyChain(snap)
		return nil
	})
	if readErr != nil {
		return head, readErr
	}
	return head, err
}

// VerifyAuditExtendsOf is Store.VerifyAuditExtends on eng's database.
func VerifyAuditExtendsOf(ctx context.Context, eng Engine, want AuditHead) (head AuditHead, err error) {
	readErr := readDirect(ctx, eng, func(snap Snapshot) error {
		head, err = verifyExtends(snap, want)
		return nil
	})
	if readErr != nil {
		return head, readErr
	}
	return head, err
}

// EachEventOf is Store.EachEvent on eng's database: every event, newest
// first, decoded one at a time.
func EachEventOf(ctx context.Context, eng Engine, fn func(Event) error) error {
	err := readDirect(ctx, eng, func(snap Snapshot) error { return eachEvent(snap, fn) })
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Inspection is what a whole check of a database found sound.
type Inspection struct {
	Apps      int        // apps in the database
	Head      AuditHead  // the head the audit trail's chain proves
	Signed    SignedHead // the newest signed head, if AnySigned
	AnySigned bool
}

// CheckEngine is Store.CheckRecords on eng's database (name is how
// messages name it), in one snapshot and in memory that does not grow with
// the database: every invariant, the audit chain and the state hash, and
// the signed heads. It says what it found sound. An engine's check of its
// medium is not part of it (a file's pages are checked as it opens).
func CheckEngine(ctx context.Context, name string, eng Engine, opts ...CheckOption) (in Inspection, err error) {
	var o checkOptions
	for _, opt := range opts {
		opt(&o)
	}
	err = readDirect(ctx, eng, func(snap Snapshot) error {
		c := &checker{snap: snap, full: true, opts: o}
		if err := runChecker(name, c); err != nil {
			return err
		}
		in.Apps, in.Head = c.appCount, c.head
		in.Signed, in.AnySigned, err = newestSignedHead(snap)
		return err
	})
	return in, err
}

// newestSignedHead is the newest head signed in a snapshot, if any.
func newestSignedHead(snap Snapshot) (sh SignedHead, found bool, err error) {
	err = snap.Scan(TableSigned, nil, ScanOptions{Reverse: true}, func(_, v []byte) error {
		found = true
		if err := decode(v, &sh); err != nil {
			return fmt.Errorf("signed head: %w", err)
		}
		return ErrStop
	})
	return sh, found, err
}
