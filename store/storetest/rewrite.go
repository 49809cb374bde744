package storetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"apiscopes/store"
)

// Rewrite changes the closed database at path as another tool could,
// bypassing every rule of the store: edit gets each JSON record of bucket
// ("apps", "keys" or "audit") decoded, and what it leaves in rec is written
// back. When an app's name changes, its entry in the name index follows,
// and then the state hash, the trail's hash chain and its head are made
// anew (ResealBatch), as whoever holds the file can, so the file still
// passes the store's check: tests use it to see what the store's callers
// do with text the store itself would never have written.
func Rewrite(t testing.TB, path, bucket string, edit func(rec map[string]any)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, names := tx.Bucket([]byte(bucket)), tx.Bucket([]byte("names"))
		type change struct{ k, v []byte }
		var changes []change
		err := b.ForEach(func(k, v []byte) error {
			var rec map[string]any
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			before, _ := rec["name"].(string)
			edit(rec)
			if after, _ := rec["name"].(string); bucket == "apps" && after != before {
				if err := names.Delete([]byte(fold(before))); err != nil {
					return err
				}
				if err := names.Put([]byte(fold(after)), append([]byte(nil), k...)); err != nil {
					return err
				}
			}
			raw, err := json.Marshal(rec)
			changes = append(changes, change{append([]byte(nil), k...), raw})
			return err
		})
		if err != nil {
			return err
		}
		for _, c := range changes { // not inside ForEach: bbolt forbids changing a bucket it iterates
			if err := b.Put(c.k, c.v); err != nil {
				return err
			}
		}
		reseal, err := ResealBatch(boltSnapshot{tx})
		if err != nil {
			return err
		}
		for _, op := range reseal.Ops {
			if err := tx.Bucket([]byte(op.Table)).Put(op.Key, op.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// boltSnapshot reads a bbolt transaction as a store.Snapshot, for
// ResealBatch, which scans forward only.
type boltSnapshot struct{ tx *bolt.Tx }

func (s boltSnapshot) Revision() uint64 { return 0 }

func (s boltSnapshot) Get(t store.Table, key []byte) ([]byte, error) {
	if b := s.tx.Bucket([]byte(t)); b != nil {
		return bytes.Clone(b.Get(key)), nil
	}
	return nil, nil
}

func (s boltSnapshot) Scan(t store.Table, prefix []byte, _ store.ScanOptions, fn func(k, v []byte) error) error {
	b := s.tx.Bucket([]byte(t))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// RewriteRaw replaces record n of bucket at the closed database at path
// with what edit makes of it, and nothing else: no index, no hash chain. It
// is tampering, for tests that must see it caught.
func RewriteRaw(t testing.TB, path, bucket string, n uint64, edit func([]byte) []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	k := binary.BigEndian.AppendUint64(nil, n)
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		return b.Put(k, edit(append([]byte(nil), b.Get(k)...)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fold is the store's form of a name in its name index.
func fold(name string) string { return strings.ToLower(strings.ToUpper(name)) }
