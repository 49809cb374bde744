package store

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
)

// benchKeys is how many keys the verify benchmark looks up among.
const benchKeys = 50_000

// fillKeys creates apps of 100 keys each until there are n keys, in one
// transaction through the same code CreateKey uses (50,000 commits would
// time the disk, not the index), then reloads the index as Open does. It
// returns the key texts and a bare digest → id map over them.
func fillKeys(b *testing.B, s *Store, n int) ([]string, map[[sha256.Size]byte]uint64) {
	b.Helper()
	keys := make([]string, 0, n)
	bare := make(map[[sha256.Size]byte]uint64, n)
	var app appRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		at := s.now().UTC()
		for i := range n {
			if i%100 == 0 {
				id, err := tx.Bucket(bucketApps).NextSequence()
				if err != nil {
					return err
				}
				app = appRecord{ID: id, Name: fmt.Sprintf("App %d", i/100), Scopes: scopes.NewSet(scopes.ModelDeploy).Strings(),
					CreatedBy: admin.Name, CreatedAt: at, UpdatedAt: at, Revision: 1}
				if err := tx.Bucket(bucketNames).Put([]byte(foldName(app.Name)), itob(id)); err != nil {
					return err
				}
			}
			text, err := newKeyText(s.rand)
			if err != nil {
				return err
			}
			rec, err := s.insertKey(tx, &app, fmt.Sprintf("key %d", i%100), text, admin, at, time.Time{})
			if err != nil {
				return err
			}
			keys = append(keys, text)
			bare[sha256.Sum256([]byte(text))] = rec.ID
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	s.ix = newIndex()
	if err := s.db.View(s.ix.load); err != nil {
		b.Fatal(err)
	}
	return keys, bare
}

// BenchmarkVerify measures Store.Verify among 50,000 keys against the least
// any verifier must do: hash the key and look the digest up in a Go map
// (bare). x-baseline is how many times slower Verify is, with its scope
// check, the index's read lock, the clock, the expiry check and the
// last-used note; the goal is 3 or less. ns/op is Verify's own time.
//
// The two are timed in alternating blocks of the same keys, so that both
// see the same machine: one loop after the other differs by a fifth from run
// to run on a shared machine. The loop that runs second in a block finds the
// keys in the CPU's cache, so the order swaps every block.
func BenchmarkVerify(b *testing.B) {
	s := newTestStore(b, WithClock(time.Now))
	keys, bare := fillKeys(b, s, benchKeys)
	// Visit the keys in a scattered order, as requests from many services do.
	order := make([]int, len(keys))
	for i := range order {
		order[i] = (i * 7919) % len(keys)
	}
	bareLookups := func(from, n int) time.Duration {
		found := 0
		start := time.Now()
		for i := from; i < from+n; i++ {
			if _, ok := bare[sha256.Sum256([]byte(keys[order[i%benchKeys]]))]; ok {
				found++
			}
		}
		if found != n {
			b.Fatalf("baseline found %d of %d keys", found, n)
		}
		return time.Since(start)
	}

	const block = 2048
	var verify, baseline time.Duration
	n, nBase := 0, 0
	blockStart := time.Now()
	base := func(from, count int) {
		b.StopTimer()
		baseline += bareLookups(from, count)
		nBase += count
		b.StartTimer()
	}
	for b.Loop() {
		if n%block == 0 {
			if n > 0 {
				verify += time.Since(blockStart)
				if (n/block)%2 == 1 { // the block that ended was even: the baseline goes second
					base(n-block, block)
				}
			}
			if (n/block)%2 == 1 { // odd blocks: the baseline goes first
				base(n, block)
			}
			blockStart = time.Now()
		}
		d, err := s.Verify(keys[order[n%benchKeys]], scopes.ModelDeploy)
		if err != nil || !d.Allowed {
			b.Fatalf("Verify = %v, %v", d, err)
		}
		n++
	}
	verify += time.Since(blockStart)
	if last := (n - 1) / block; last%2 == 0 {
		base(last*block, n-last*block)
	}
	perVerify := float64(verify) / float64(n)
	perBase := float64(baseline) / float64(nBase)
	b.ReportMetric(perVerify/perBase, "x-baseline")
}

// BenchmarkCreateKey measures Store.CreateKey (key generation, hashing, the
// name check, five records and the audit event in one transaction) against
// the least a durable write costs: a bare bbolt Update with one Put of a
// record of the same size, on the same file. The goal is 2 or less.
func BenchmarkCreateKey(b *testing.B) {
	s := newTestStore(b, WithClock(time.Now))
	app := mustCreateApp(b, s, "Bench", scopes.NewSet(scopes.ModelDeploy))
	value := make([]byte, 256)
	if err := s.db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("bench")); return err }); err != nil {
		b.Fatal(err)
	}

	n := 0
	start := time.Now()
	for b.Loop() {
		if _, _, err := s.CreateKey(admin, app.ID, fmt.Sprintf("key %d", n)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	create := time.Since(start)

	start = time.Now()
	for i := range n {
		err := s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("bench")).Put(itob(uint64(i)), value)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	baseline := time.Since(start)
	b.ReportMetric(float64(create)/float64(baseline), "x-baseline")
}

// BenchmarkCheckKey measures the format and checksum check that refuses a
// mistyped key before any database read, against computing the key's
// checksum alone (CRC-32 and its base62 form).
func BenchmarkCheckKey(b *testing.B) {
	r := testRandom(7)
	keys := make([]string, 256)
	for i := range keys {
		k, err := newKeyText(r)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
	}

	n := 0
	start := time.Now()
	for b.Loop() {
		if err := CheckKey(keys[n%len(keys)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	check := time.Since(start)

	ok := 0
	start = time.Now()
	for i := range n {
		k := keys[i%len(keys)]
		if checksum(k[:KeyLen-checksumLen]) == k[KeyLen-checksumLen:] {
			ok++
		}
	}
	baseline := time.Since(start)
	if ok != n {
		b.Fatalf("baseline accepted %d of %d keys", ok, n)
	}
	b.ReportMetric(float64(check)/float64(baseline), "x-baseline")
}
