package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNewerSchema is a database written by a newer apiscopes, in a layout
// this one does not know: it is left alone.
var ErrNewerSchema = errors.New("the database was written by a newer apiscopes")

// prepare makes the engine's database one this store can use: it creates
// the schema in an empty one, migrates an older one, and checks it.
func (s *Store) prepare(o options) error {
	var schema []byte
	err := s.eng.Read(ctxBG, func(snap Snapshot) (err error) {
		schema, err = snap.Get(TableMeta, metaSchema)
		return err
	})
	if err != nil {
		return err
	}
	switch v := string(schema); {
	case schema == nil && s.readOnly:
		return fmt.Errorf("%s: %w: it holds no data at all; %s", s.name, ErrNotDatabase, HollowAdvice)
	case schema == nil:
		var b Batch
		b.Require(TableMeta, metaSchema, nil)
		b.Put(TableMeta, metaSchema, []byte(Schema))
		b.Put(TableMeta, metaUsageSince, []byte(s.clock.now().UTC().Format(time.RFC3339)))
		if _, err := s.eng.Commit(ctxBG, &b); errors.Is(err, ErrStale) {
			return s.prepare(o) // another replica made it first: take what it made
		} else if err != nil {
			return s.writeError(err)
		}
	case v == SchemaV1:
		if err := s.migrateV1(o); err != nil {
			return err
		}
	case v == Schema:
	default:
		return s.schemaError(schema)
	}
	return s.eng.Read(ctxBG, func(snap Snapshot) error { return checkSnapshot(s.name, snap) })
}

// schemaError refuses a database whose schema is not this build's: one a
// newer apiscopes wrote (perhaps after this store opened it), or another
// program's.
func (s *Store) schemaError(schema []byte) error {
	if v := string(schema); strings.HasPrefix(v, "apiscopes/") {
		return fmt.Errorf("%s: %w (schema %q; this apiscopes knows %q): upgrade apiscopes to use it", s.name,
			ErrNewerSchema, v, Schema)
	}
	return fmt.Errorf("%s: %w (schema %q)", s.name, ErrNotDatabase, schema)
}

// migrateV1 brings a schema 1 database to schema 2. A writer first has the
// engine keep a checked copy, then rewrites the keys in one change; a
// read-only store migrates a copy in memory and leaves the database as it
// is, so an old file can be read by any later version without a writer.
func (s *Store) migrateV1(o options) error {
	var b *Batch
	var all *Batch
	err := s.eng.Read(ctxBG, func(snap Snapshot) (err error) {
		if b, err = migrationV1(snap, s.clock.now()); err != nil {
			return err
		}
		if s.readOnly {
			all, err = copyAll(snap, append(Tables, tableAppKeysV1))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: read schema 1: %w", s.name, err)
	}
	if s.readOnly {
		mem := NewMemory()
		for _, batch := range []*Batch{all, b} {
			if _, err := mem.Commit(ctxBG, batch); err != nil {
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
	if _, err := s.eng.Commit(ctxBG, b); err != nil {
		return s.writeError(err)
	}
	return nil
}

// tableAppKeysV1 is schema 1's app id ‖ key id index, gone in schema 2.
const tableAppKeysV1 Table = "app_keys"

// migrationV1 is the change that turns a schema 1 snapshot into schema 2:
// keys move under their app's id, the app-key index goes, digests point at
// app and key, last-used times move to the usage table, and the id counters
// and audit head (bucket sequences in schema 1) are written down. A counter
// is the highest id the audit trail ever named, so no id is handed out
// twice.
func migrationV1(snap Snapshot, now time.Time) (*Batch, error) {
	b := &Batch{}
	b.Require(TableMeta, metaSchema, []byte(SchemaV1))
	var appSeq, keySeq, auditSeq uint64
	err := snap.Scan(TableApps, nil, ScanOptions{}, func(k, _ []byte) error {
		if len(k) == 8 {
			appSeq = max(appSeq, btoi(k))
		}
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
		b.Put(TableKeys, at, encode(rec))
		b.Put(TableDigests, rec.Digest, at)
		if !used.IsZero() {
			b.Put(TableUsage, keyUseKey(rec.ID), itob(uint64(used.UnixNano())))
		}
	}
	b.Put(TableMeta, metaAppSeq, itob(appSeq))
	b.Put(TableMeta, metaKeySeq, itob(keySeq))
	b.Put(TableMeta, metaAuditHead, encode(auditHead{Seq: auditSeq, Hash: chain}))
	b.Put(TableMeta, metaUsageSince, []byte(now.UTC().Format(time.RFC3339)))
	b.Put(TableMeta, metaSchema, []byte(SchemaV2))
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
