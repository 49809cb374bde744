package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNewerSchema is a database written by a newer apiscopes, in a layout
// this one does not know: it is left alone.
var ErrNewerSchema = errors.New("the database was written by a newer apiscopes")

// prepare makes the engine's database one this store can use: it creates
// the schema in an empty one, migrates an older one, and checks it, as
// much as o.check says (opencheck.go). later says the whole check is left
// for the background, once the index is loaded.
func (s *Store) prepare(o options) (later bool, err error) {
	settled, err := s.settle(o)
	if err != nil {
		return false, err
	}
	switch {
	case settled || o.check == CheckFirst:
		return false, s.eng.Read(context.Background(), func(snap Snapshot) error { return checkSnapshot(s.name, snap) })
	case o.check == CheckTail:
		return false, s.eng.Read(context.Background(), func(snap Snapshot) error { return checkTail(s.name, snap) })
	}
	return true, nil
}

// settle creates the schema in an empty database or migrates an older
// one; changed says it did either, after which the database is checked in
// full at once (a new one is small; an older one was checked before it
// changed).
func (s *Store) settle(o options) (changed bool, err error) {
	var schema []byte
	err = s.eng.Read(context.Background(), func(snap Snapshot) (err error) {
		schema, err = snap.Get(TableMeta, metaSchema)
		return err
	})
	if err != nil {
		return false, err
	}
	switch v := string(schema); {
	case schema == nil && s.readOnly:
		return false, fmt.Errorf("%s: %w: it holds no data at all; %s", s.name, ErrNotDatabase, HollowAdvice)
	case schema == nil:
		var b Batch
		b.Require(TableMeta, metaSchema, nil)
		b.Put(TableMeta, metaSchema, []byte(Schema))
		b.Put(TableMeta, metaUsageSince, []byte(s.clock.now().UTC().Format(time.RFC3339)))
		if _, err := s.eng.Commit(context.Background(), &b); errors.Is(err, ErrStale) {
			return s.settle(o) // another replica made it first: take what it made
		} else if err != nil {
			return false, s.writeError(err)
		}
		return true, nil
	case (v == SchemaV2 || v == SchemaV3) && s.readOnly:
		// Read as it is: schema 4 keeps the same records and more (schema
		// 3 a state hash a reader of schema 2 has nothing to check against
		// until a writer upgrades the database).
	case (v == SchemaV2 || v == SchemaV3) && o.waitUpgrade:
		// Read as it is, and write nothing, until a store of this version
		// upgrades it (its other replicas still run the older version):
		// the change stream says when (apply.go).
		s.gate.behind.Store(&v)
	case v == SchemaV1, v == SchemaV2, v == SchemaV3:
		if err := s.migrate(o, v); err != nil {
			return false, err
		}
		return true, nil
	case v == Schema:
	default:
		return false, s.schemaError(schema)
	}
	return false, nil
}

// keepsState reports whether a database of this schema keeps a state
// hash with its audit head (schema 3 on).
func keepsState(schema string) bool { return schema == SchemaV3 || schema == SchemaV4 }

// older reports whether schema is one this version reads and upgrades.
func older(schema string) bool {
	return schema == SchemaV1 || schema == SchemaV2 || schema == SchemaV3
}

// WaitForUpgrade opens a database of the previous schema without
// upgrading it: the store reads it as it is (its records are this
// version's, without what this version adds), answers checks, and refuses
// every change with ErrUpgradePending until a store opened without this
// option upgrades it (`apiscopes upgrade`), which its change stream then
// shows. For replicas joining a cluster that replicas of the previous
// version still serve: they would ignore what only this version writes.
func WaitForUpgrade() Option { return func(o *options) { o.waitUpgrade = true } }

// ErrUpgradePending is a change refused by a store waiting for its
// database to be upgraded (WaitForUpgrade).
var ErrUpgradePending = errors.New("the database has not been upgraded to this apiscopes's schema yet")

// schemaError refuses a database whose schema is not this build's: one a
// newer apiscopes wrote (perhaps after this store opened it), or another
// program's.
func (s *Store) schemaError(schema []byte) error {
	if v := string(schema); older(v) {
		return fmt.Errorf("%s: %w (it is at schema %q; this apiscopes writes %q): once no replica of the older "+
			"version writes it, upgrade it with `apiscopes upgrade`", s.name, ErrUpgradePending, v, Schema)
	} else if strings.HasPrefix(v, "apiscopes/") {
		return fmt.Errorf("%s: %w (schema %q; this apiscopes knows %q): upgrade apiscopes to use it", s.name,
			ErrNewerSchema, v, Schema)
	}
	return fmt.Errorf("%s: %w (schema %q)", s.name, ErrNotDatabase, schema)
}

// migrate brings a database of an older schema to this one. A writer
// first has the engine keep a checked copy, then migrates it in one change;
// a read-only store migrates a copy in memory and leaves the database as it
// is, so an old file can be read by any later version without a writer.
func (s *Store) migrate(o options, from string) error {
	if c, ok := s.eng.(Checker); ok && o.check != CheckFirst && !s.readOnly {
		// Opened to check later, but this change cannot wait: the file's
		// pages are checked first (with CheckFirst, its opener did).
		if err := c.CheckMedium(); err != nil {
			var unchecked *UncheckedError
			if !errors.As(err, &unchecked) {
				return err
			}
		}
	}
	ctx := context.Background() // opening the database: New has no caller's context
	var b *Batch
	var all *Batch
	err := s.eng.Read(ctx, func(snap Snapshot) (err error) {
		if b, err = migration(snap, from, s.clock.now()); err != nil {
			return err
		}
		if s.readOnly {
			all, err = copyAll(snap, append(Tables, tableAppKeysV1))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: read schema %s: %w", s.name, strings.TrimPrefix(from, "apiscopes/"), err)
	}
	if s.readOnly {
		mem := NewMemory()
		for _, batch := range []*Batch{all, b} {
			if _, err := mem.Commit(ctx, batch); err != nil {
				return err
			}
		}
		s.eng = mem
		return nil
	}
	if o.preserve != nil {
		if _, err := o.preserve(); err != nil {
			return fmt.Errorf("%s: keep a copy before upgrading its schema: %w (nothing was changed)", s.name, err)
		}
	}
	if _, err := s.eng.Commit(context.Background(), b); errors.Is(err, ErrStale) {
		_, err := s.settle(o) // another replica changed it first (an upgrade, or a change of the old schema)
		return err
	} else if err != nil {
		return s.writeError(err)
	}
	return nil
}

// tableAppKeysV1 is schema 1's app id ‖ key id index, gone in schema 2.
const tableAppKeysV1 Table = "app_keys"

// migration is the change that brings a snapshot of schema from to this
// one.
func migration(snap Snapshot, from string, now time.Time) (*Batch, error) {
	switch from {
	case SchemaV1:
		return migrationV1(snap, now)
	case SchemaV2:
		return migrationV2(snap)
	}
	return migrationV3(), nil
}

// migrationV3 is the change that turns a schema 3 snapshot into schema 4:
// the version alone. Schema 4 adds records (the key policy, approval
// requests, keys' address lists) that a store of schema 3 would ignore, so
// the version moves: from then on such a store writes nothing (every
// change requires the schema it knows), and one that follows the change
// stream stops answering checks (apply.go).
func migrationV3() *Batch {
	b := &Batch{}
	b.Require(TableMeta, metaSchema, []byte(SchemaV3))
	b.Put(TableMeta, metaSchema, []byte(Schema))
	return b
}

// migrationV2 is the change that turns a schema 2 snapshot into schema 4:
// the state hash of its apps and keys, computed once, kept with the audit
// head. The records stay as they are.
func migrationV2(snap Snapshot) (*Batch, error) {
	b := &Batch{}
	b.Require(TableMeta, metaSchema, []byte(SchemaV2))
	raw, err := snap.Get(TableMeta, metaAuditHead)
	if err != nil {
		return nil, err
	}
	var head auditHead
	if raw != nil {
		if err := decode(raw, &head); err != nil {
			return nil, err
		}
	}
	b.Require(TableMeta, metaAuditHead, raw)
	state, err := StateOf(snap)
	if err != nil {
		return nil, err
	}
	head.State = state.Sum()
	b.Put(TableMeta, metaState, checkpointBytes(head.Seq, state.Bytes()))
	b.Put(TableMeta, metaAuditHead, encode(head))
	b.Put(TableMeta, metaSchema, []byte(Schema))
	return b, nil
}

// migrationV1 is the change that turns a schema 1 snapshot into schema 4:
// keys move under their app's id, the app-key index goes, digests point at
// app and key, last-used times move to the usage table, the id counters
// and audit head (bucket sequences in schema 1) are written down, and the
// state hash of the apps and keys as they now are is kept with the head. A
// counter is the highest id the audit trail ever named, so no id is handed
// out twice.
func migrationV1(snap Snapshot, now time.Time) (*Batch, error) {
	b := &Batch{}
	b.Require(TableMeta, metaSchema, []byte(SchemaV1))
	var appSeq, keySeq, auditSeq uint64
	var state StateHash
	err := snap.Scan(TableApps, nil, ScanOptions{}, func(k, v []byte) error {
		if len(k) == 8 {
			appSeq = max(appSeq, btoi(k))
		}
		state.Add(TableApps, k, v) // apps keep their records
		return nil
	})
	if err != nil {
		return nil, err
	}
	var keys []keyRecord
	err = snap.Scan(TableKeys, nil, ScanOptions{}, func(_, v []byte) error {
		var rec keyRecord
		if err := decode(v, &rec); err != nil {
			return err
		}
		keys = append(keys, rec)
		keySeq = max(keySeq, rec.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var chain string // schema 1 trails were not chained: they are now
	err = snap.Scan(TableAudit, nil, ScanOptions{}, func(k, v []byte) error {
		var ev Event
		if err := decode(v, &ev); err != nil {
			return err
		}
		ev.Hash = ChainHash(chain, ev)
		chain = ev.Hash
		b.Put(TableAudit, append([]byte(nil), k...), encode(ev))
		auditSeq = max(auditSeq, ev.Seq)
		appSeq = max(appSeq, ev.AppID)
		keySeq = max(keySeq, ev.KeyID, ev.NewKeyID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.DeletePrefix(TableKeys, nil)
	b.DeletePrefix(TableDigests, nil)
	b.DeletePrefix(tableAppKeysV1, nil)
	for _, rec := range keys {
		at := keyKey(rec.AppID, rec.ID)
		used := rec.LastUsedAt
		rec.LastUsedAt = time.Time{}
		v := encode(rec)
		b.Put(TableKeys, at, v)
		state.Add(TableKeys, at, v)
		b.Put(TableDigests, rec.Digest, at)
		if !used.IsZero() {
			b.Put(TableUsage, keyUseKey(rec.ID), itob(uint64(used.UnixNano())))
		}
	}
	b.Put(TableMeta, metaAppSeq, itob(appSeq))
	b.Put(TableMeta, metaKeySeq, itob(keySeq))
	b.Put(TableMeta, metaAuditHead, encode(auditHead{Seq: auditSeq, Hash: chain, State: state.Sum()}))
	b.Put(TableMeta, metaState, checkpointBytes(auditSeq, state.Bytes()))
	b.Put(TableMeta, metaUsageSince, []byte(now.UTC().Format(time.RFC3339)))
	b.Put(TableMeta, metaSchema, []byte(Schema))
	return b, nil
}

// copyAll is a batch that writes every entry of the given tables.
func copyAll(snap Snapshot, tables []Table) (*Batch, error) {
	b := &Batch{}
	for _, t := range tables {
		err := snap.Scan(t, nil, ScanOptions{}, func(k, v []byte) error {
			b.Put(t, append([]byte(nil), k...), append([]byte(nil), v...))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}
