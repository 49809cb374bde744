package storetest

import (
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
// and when audit events change, the hash chain is computed anew (as whoever
// holds the file can), so the file still passes the store's check: tests
// use it to see what the store's callers do with text the store itself
// would never have written.
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
		if bucket == "audit" {
			return rechain(tx)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rechain computes every audit event's hash anew, in order, and the head.
func rechain(tx *bolt.Tx) error {
	b := tx.Bucket([]byte("audit"))
	var head struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	type change struct{ k, v []byte }
	var changes []change
	err := b.ForEach(func(k, v []byte) error {
		var ev store.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return err
		}
		ev.Hash = store.ChainHash(head.Hash, ev)
		head.Seq, head.Hash = ev.Seq, ev.Hash
		raw, err := json.Marshal(ev)
		changes = append(changes, change{append([]byte(nil), k...), raw})
		return err
	})
	if err != nil {
		return err
	}
	for _, c := range changes {
		if err := b.Put(c.k, c.v); err != nil {
			return err
		}
	}
	raw, err := json.Marshal(head)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte("meta")).Put([]byte("audit.head"), raw)
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
