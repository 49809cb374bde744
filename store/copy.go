package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Copying a whole database from one engine to another (apiscopes migrate,
// and a backup of a cluster into a file). The copy goes in small batches,
// each within every engine's limits, and the target's schema version is
// written last: until then the target is not a database any apiscopes
// opens, and a copy cut short resumes where its marker says.

// ErrTargetInUse refuses a copy into a database that holds other data.
var ErrTargetInUse = errors.New("the target already holds data that did not come from this source")

// metaCopyMarker is where a copy keeps its progress: the source's audit
// head (8 bytes), then the last entry written as "table\x00key". A copy cut
// short resumes after it, if the source has not changed since.
var metaCopyMarker = []byte("copy.marker")

// copyBatchOps and copyBatchBytes bound one batch of a copy: etcd allows 128
// operations and 1.5 MiB a transaction.
const (
	copyBatchOps   = 100
	copyBatchBytes = 1 << 20
)

// copyWindow is how many batches a copy into an engine held to etcd's
// limits has in flight at once: each is a round trip and a sync of the
// cluster, which take turns better than one after another.
const copyWindow = 8

// copyLimits sizes a copy's batches for its target: an engine that takes
// larger changes (a file) gets fewer, larger ones, one at a time, as its
// commits take turns anyway; a cluster gets etcd's size, several at once.
func copyLimits(to Engine) (ops, bytes, window int) {
	if l, ok := to.(BatchLimiter); ok {
		if ops, bytes := l.BatchLimits(); ops > copyBatchOps {
			return ops - 1, bytes, 1 // the marker is one more
		}
	}
	return copyBatchOps, copyBatchBytes, copyWindow
}

// CopyReport says what a copy did.
type CopyReport struct {
	Entries int    // entries written by this run
	Resumed bool   // it went on from a copy cut short
	Head    uint64 // the source's newest audit event, now also the target's
}

// Copy writes every entry of the source's tables into to, from one
// snapshot of from, in batches; progress (if not nil) is told the entries
// written so far. The target must be empty, or hold a copy of the same
// source cut short (it resumes). A source of an older schema is migrated in
// memory first. The target is checked before Copy returns, its state hash
// included.
func Copy(ctx context.Context, from, to Engine, progress func(n int)) (CopyReport, error) {
	var rep CopyReport
	src := from
	err := from.Read(ctx, func(snap Snapshot) error {
		v, err := snap.Get(TableMeta, metaSchema)
		if err != nil {
			return err
		}
		switch string(v) {
		case Schema:
			return nil
		case SchemaV1, SchemaV2, SchemaV3:
			mem := NewMemory()
			all, err := copyAll(snap, append(Tables, tableAppKeysV1))
			if err != nil {
				return err
			}
			mig, err := migration(snap, string(v), time.Now())
			if err != nil {
				return err
			}
			for _, b := range []*Batch{all, mig} {
				if _, err := mem.Commit(ctx, b); err != nil {
					return err
				}
			}
			src = mem
			return nil
		case "":
			return fmt.Errorf("the source is empty: %w", ErrNotDatabase)
		}
		return fmt.Errorf("the source has schema %q: %w", v, ErrNewerSchema)
	})
	if err != nil {
		return rep, err
	}
	marker, err := copyMarker(ctx, to)
	if err != nil {
		return rep, err
	}
	rep.Resumed = marker != nil
	err = src.Read(ctx, func(snap Snapshot) error {
		var head auditHead
		if v, err := snap.Get(TableMeta, metaAuditHead); err != nil {
			return err
		} else if v != nil {
			if err := decode(v, &head); err != nil {
				return err
			}
		}
		rep.Head = head.Seq
		var mt Table
		var mk []byte
		if marker != nil {
			if len(marker) < 8 || btoi(marker[:8]) != head.Seq {
				return fmt.Errorf("%w: a copy was cut short, and the source has changed since; "+
					"empty the target and copy again", ErrTargetInUse)
			}
			t, k, _ := bytes.Cut(marker[8:], []byte{0})
			mt, mk = Table(t), k
		}
		maxOps, maxBytes, window := copyLimits(to)
		var (
			inflight sync.WaitGroup
			slots    = make(chan struct{}, window)
			mu       sync.Mutex // guards failed, rep.Entries and progress
			failed   error
			sent     int
		)
		commit := func(b *Batch, entries int) {
			defer func() { <-slots; inflight.Done() }()
			_, err := to.Commit(ctx, b)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = cmp.Or(failed, err)
				return
			}
			rep.Entries += entries
			if progress != nil {
				progress(rep.Entries)
			}
		}
		b := &Batch{}
		size := 0
		// flush sends a batch. Batches go window at a time, as their
		// entries never overlap; every window-th waits for all before it,
		// carries the marker and is written before any after it is sent,
		// so a copy cut short resumes after entries that are all written,
		// and a target that holds entries always holds a marker.
		flush := func(last []byte) error {
			if len(b.Ops) == 0 {
				return nil
			}
			entries := len(b.Ops)
			marks := sent%window == 0
			if marks {
				inflight.Wait()
				b.Put(TableMeta, metaCopyMarker, append(itob(head.Seq), last...))
			}
			mu.Lock()
			err := failed
			mu.Unlock()
			if err != nil {
				return err
			}
			sent++
			slots <- struct{}{}
			inflight.Add(1)
			if marks {
				commit(b, entries)
			} else {
				go commit(b, entries)
			}
			b, size = &Batch{}, 0
			return nil
		}
		defer inflight.Wait()
		for _, t := range Tables {
			err := snap.Scan(t, nil, ScanOptions{}, func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				at := append(append([]byte(t), 0), k...)
				if marker != nil && (tableOrder(t) < tableOrder(mt) || t == mt && bytes.Compare(k, mk) <= 0) {
					return nil // written by the run that was cut short
				}
				if t == TableMeta && (bytes.Equal(k, metaSchema) || bytes.Equal(k, metaCopyMarker)) {
					return nil // the schema goes last; the marker is the copy's own
				}
				b.Put(t, bytes.Clone(k), bytes.Clone(v))
				size += len(k) + len(v)
				if len(b.Ops) >= maxOps || size >= maxBytes {
					return flush(at)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if err := flush(nil); err != nil {
			return err
		}
		inflight.Wait()
		if failed != nil {
			return failed
		}
		last := &Batch{}
		last.Require(TableMeta, metaSchema, nil)
		last.Delete(TableMeta, metaCopyMarker)
		last.Put(TableMeta, metaSchema, []byte(Schema))
		if _, err := to.Commit(ctx, last); err != nil {
			return err
		}
		if _, local := to.(BatchLimiter); local {
			return nil // the copy is checked below, where its reads are local
		}
		// A cluster answers each record the check looks up with a round
		// trip: the source is checked instead, and the copy read back a
		// page at a time and compared with it, entry by entry.
		if err := checkAll("the source", snap, checkOptions{}); err != nil {
			return err
		}
		return sameEntries(ctx, snap, to)
	})
	if err != nil {
		return rep, err
	}
	if _, local := to.(BatchLimiter); !local {
		return rep, nil
	}
	return rep, to.Read(ctx, func(snap Snapshot) error {
		if err := checkAll("the copy", snap, checkOptions{}); err != nil {
			return err
		}
		var head auditHead
		if v, err := snap.Get(TableMeta, metaAuditHead); err != nil {
			return err
		} else if v != nil {
			if err := decode(v, &head); err != nil {
				return err
			}
		}
		if head.Seq != rep.Head {
			return fmt.Errorf("the copy ends its audit trail at event %d, the source at %d", head.Seq, rep.Head)
		}
		return nil
	})
}

// copyMarker is the marker of a copy cut short in to, nil for an empty
// target, and ErrTargetInUse for anything else.
func copyMarker(ctx context.Context, to Engine) ([]byte, error) {
	var marker []byte
	err := to.Read(ctx, func(snap Snapshot) error {
		m, err := snap.Get(TableMeta, metaCopyMarker)
		if err != nil {
			return err
		}
		if m != nil {
			marker = m
			return nil
		}
		for _, t := range Tables {
			empty := true
			if err := snap.Scan(t, nil, ScanOptions{}, func(_, _ []byte) error { empty = false; return ErrStop }); err != nil {
				return err
			}
			if !empty {
				return ErrTargetInUse
			}
		}
		return nil
	})
	return marker, err
}

// tableOrder is a table's place in Tables, the order a copy writes them.
func tableOrder(t Table) int {
	for i, x := range Tables {
		if x == t {
			return i
		}
	}
	return len(Tables)
}

// comparePage is how many entries of the copy sameEntries reads at a time.
const comparePage = 4096

// sameEntries checks that to holds exactly the entries of snap, but for a
// copy's marker, reading to a page at a time.
func sameEntries(ctx context.Context, snap Snapshot, to Engine) error {
	own := func(t Table, k []byte) bool { return t == TableMeta && bytes.Equal(k, metaCopyMarker) }
	for _, t := range Tables {
		var page [][2][]byte
		var from []byte
		pos, done := 0, false
		next := func() ([]byte, []byte, bool, error) {
			if pos == len(page) && !done {
				page, pos = page[:0], 0
				err := to.Read(ctx, func(ts Snapshot) error {
					return ts.Scan(t, nil, ScanOptions{From: from}, func(k, v []byte) error {
						if own(t, k) {
							return nil
						}
						page = append(page, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
						if len(page) == comparePage {
							return ErrStop
						}
						return nil
					})
				})
				if err != nil {
					return nil, nil, false, err
				}
				done = len(page) < comparePage
				if len(page) > 0 {
					from = append(bytes.Clone(page[len(page)-1][0]), 0)
				}
			}
			if pos == len(page) {
				return nil, nil, false, nil
			}
			e := page[pos]
			pos++
			return e[0], e[1], true, nil
		}
		err := snap.Scan(t, nil, ScanOptions{}, func(k, v []byte) error {
			if own(t, k) {
				return nil
			}
			ck, cv, ok, err := next()
			switch {
			case err != nil:
				return err
			case !ok || !bytes.Equal(ck, k):
				return fmt.Errorf("the copy lacks the entry %s %x of the source", t, k)
			case !bytes.Equal(cv, v):
				return fmt.Errorf("the copy's entry %s %x is not the source's", t, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if ck, _, ok, err := next(); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("the copy holds an entry the source does not: %s %x", t, ck)
		}
	}
	return nil
}
