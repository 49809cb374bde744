package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
)

// maxProblems bounds how many problems a check reports: enough to diagnose a
// damaged file, short enough to read.
const maxProblems = 20

// DamageError says what is wrong with a database file that bbolt can open
// but whose pages or records do not hold together. It matches ErrDamaged.
type DamageError struct {
	Path     string
	Problems []string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%s: %v: %s (restore a backup: see \"Restoring a backup\" in the README)",
		e.Path, ErrDamaged, strings.Join(e.Problems, "; "))
}

func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// Check verifies the whole database: bbolt's own page check (every page
// reachable or free, none twice) and the store's invariants (every key's app
// exists, the digest, app-key and name indexes match the records one to one,
// each app's key count is right, and the audit trail has no holes). It reads
// every record, so it takes time in proportion to the file's size; a nil
// result means the file is sound.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error { return checkTx(s.path, tx, true) })
}

// checkTx runs the store's invariants on tx and, when pages is set, bbolt's
// page check. The invariants run first and under recover: a damaged page
// makes bbolt panic on a read, and that panic is the damage report. bbolt's
// page check runs in a goroutine of its own that cannot be recovered, so it
// runs only once every page was read without a panic.
func checkTx(path string, tx *bolt.Tx, pages bool) error {
	problems := recordProblems(tx)
	if len(problems) == 0 && pages {
		for err := range tx.Check() {
			if len(problems) < maxProblems {
				problems = append(problems, "bbolt: "+err.Error())
			}
		}
	}
	if len(problems) > 0 {
		return &DamageError{Path: path, Problems: problems}
	}
	return nil
}

// recordProblems lists every broken invariant of the records and indexes,
// at most maxProblems of them, turning a panic of a damaged page into one.
func recordProblems(tx *bolt.Tx) (problems []string) {
	defer func() {
		if r := recover(); r != nil {
			problems = append(problems, fmt.Sprintf("unreadable page: %v", r))
		}
	}()
	c := &checker{tx: tx}
	c.run()
	return c.problems
}

// checker walks the buckets once, collecting what does not agree.
type checker struct {
	tx       *bolt.Tx
	problems []string
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
	for _, name := range [][]byte{bucketMeta, bucketApps, bucketNames, bucketKeys, bucketDigests, bucketAppKeys, bucketAudit} {
		if c.tx.Bucket(name) == nil {
			c.addf("bucket %q is missing", name)
		}
	}
	if len(c.problems) > 0 {
		return
	}
	for _, step := range []func() error{c.apps, c.names, c.keys, c.digests, c.appKeys, c.audit} {
		if err := step(); err != nil {
			return
		}
	}
}

// apps: each record decodes, sits under its own id, has known scopes and a
// name index entry, and counts exactly the keys the app_keys index holds.
func (c *checker) apps() error {
	b := c.tx.Bucket(bucketApps)
	names, appKeys := c.tx.Bucket(bucketNames), c.tx.Bucket(bucketAppKeys)
	return b.ForEach(func(k, v []byte) error {
		var rec appRecord
		if err := decode(v, &rec); err != nil {
			return c.addf("app %s: %v", recordID(k), err)
		}
		if len(k) != 8 || btoi(k) != rec.ID {
			return c.addf("app record %d is stored under key %x", rec.ID, k)
		}
		if rec.ID > b.Sequence() {
			return c.addf("app %d is above the app sequence %d: ids could be reused", rec.ID, b.Sequence())
		}
		if _, err := scopes.ParseSet(rec.Scopes); err != nil {
			return c.addf("app %d: %v", rec.ID, err)
		}
		if id := names.Get([]byte(foldName(rec.Name))); id == nil || btoi(id) != rec.ID {
			return c.addf("app %d: its name has no entry in the name index", rec.ID)
		}
		n := 0
		cur := appKeys.Cursor()
		for ak, _ := cur.Seek(k); ak != nil && bytes.HasPrefix(ak, k); ak, _ = cur.Next() {
			n++
		}
		if n != rec.Keys {
			return c.addf("app %d counts %d keys but has %d", rec.ID, rec.Keys, n)
		}
		return nil
	})
}

// names: each entry points at an app of that (folded) name.
func (c *checker) names() error {
	apps := c.tx.Bucket(bucketApps)
	return c.tx.Bucket(bucketNames).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return c.addf("name index entry %q is not an app id", k)
		}
		raw := apps.Get(v)
		if raw == nil {
			return c.addf("name index entry %q points at missing app %d", k, btoi(v))
		}
		var rec appRecord
		if err := decode(raw, &rec); err != nil {
			return nil // reported by apps
		}
		if foldName(rec.Name) != string(k) {
			return c.addf("name index entry %q points at app %d, named %q", k, rec.ID, rec.Name)
		}
		return nil
	})
}

// keys: each record decodes, sits under its own id, belongs to an existing
// app and has exactly its digest and app_keys entries.
func (c *checker) keys() error {
	b := c.tx.Bucket(bucketKeys)
	apps, digests, appKeys := c.tx.Bucket(bucketApps), c.tx.Bucket(bucketDigests), c.tx.Bucket(bucketAppKeys)
	return b.ForEach(func(k, v []byte) error {
		var rec keyRecord
		if err := decode(v, &rec); err != nil {
			return c.addf("key %s: %v", recordID(k), err)
		}
		if len(k) != 8 || btoi(k) != rec.ID {
			return c.addf("key record %d is stored under key %x", rec.ID, k)
		}
		if rec.ID > b.Sequence() {
			return c.addf("key %d is above the key sequence %d: ids could be reused", rec.ID, b.Sequence())
		}
		if apps.Get(itob(rec.AppID)) == nil {
			return c.addf("key %d belongs to missing app %d", rec.ID, rec.AppID)
		}
		if len(rec.Digest) != 32 {
			return c.addf("key %d has a %d-byte digest", rec.ID, len(rec.Digest))
		}
		if id := digests.Get(rec.Digest); id == nil || btoi(id) != rec.ID {
			return c.addf("key %d has no entry in the digest index", rec.ID)
		}
		if appKeys.Get(appKey(rec.AppID, rec.ID)) == nil {
			return c.addf("key %d has no entry in the app-key index", rec.ID)
		}
		return nil
	})
}

// digests: each entry points at a key with that digest.
func (c *checker) digests() error {
	keys := c.tx.Bucket(bucketKeys)
	return c.tx.Bucket(bucketDigests).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return c.addf("digest index entry %x is not a key id", k)
		}
		raw := keys.Get(v)
		if raw == nil {
			return c.addf("digest index entry %x points at missing key %d", k, btoi(v))
		}
		var rec keyRecord
		if err := decode(raw, &rec); err != nil {
			return nil // reported by keys
		}
		if !bytes.Equal(rec.Digest, k) {
			return c.addf("digest index entry %x points at key %d, which has another digest", k, rec.ID)
		}
		return nil
	})
}

// appKeys: each entry names an existing key of that app.
func (c *checker) appKeys() error {
	keys := c.tx.Bucket(bucketKeys)
	return c.tx.Bucket(bucketAppKeys).ForEach(func(k, _ []byte) error {
		if len(k) != 16 {
			return c.addf("app-key index entry %x is malformed", k)
		}
		appID, keyID := btoi(k[:8]), btoi(k[8:])
		raw := keys.Get(k[8:])
		if raw == nil {
			return c.addf("app-key index entry (%d, %d) points at a missing key", appID, keyID)
		}
		var rec keyRecord
		if err := decode(raw, &rec); err != nil {
			return nil // reported by keys
		}
		if rec.AppID != appID {
			return c.addf("app-key index puts key %d under app %d; the key says app %d", keyID, appID, rec.AppID)
		}
		return nil
	})
}

// audit: events are numbered 1, 2, … up to the bucket's sequence with no
// hole, and each decodes under its own number.
func (c *checker) audit() error {
	b := c.tx.Bucket(bucketAudit)
	want := uint64(1)
	err := b.ForEach(func(k, v []byte) error {
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
	if last := want - 1; last != b.Sequence() {
		return c.addf("audit trail ends at %d but its sequence is %d: events are missing", last, b.Sequence())
	}
	return nil
}

// recordID shows a record's bbolt key as its id, or in hex if it is not one.
func recordID(k []byte) string {
	if len(k) == 8 {
		return fmt.Sprint(btoi(k))
	}
	return fmt.Sprintf("%x", k)
}
