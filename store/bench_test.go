package store

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"apiscopes/scopes"
)

// benchKeys is how many keys the verify benchmark looks up among.
const benchKeys = 2000

// BenchmarkVerify measures Store.Verify against the least any verifier must
// do: hash the key and look the digest up in a Go map. Both loops run b.N
// times over the same keys; the reported x-baseline is how many times slower
// Verify is (checksum, a bbolt read transaction and JSON decoding included).
// ns/op is Verify's own time.
func BenchmarkVerify(b *testing.B) {
	s := newTestStore(b)
	keys := make([]string, 0, benchKeys)
	index := make(map[[sha256.Size]byte]uint64, benchKeys)
	// 20 apps of 100 keys, one transaction (and fsync) per key, as in use.
	for a := range benchKeys / 100 {
		app := mustCreateApp(b, s, fmt.Sprintf("App %d", a), scopes.NewSet(scopes.ModelDeploy))
		for k := range 100 {
			text, key := mustCreateKey(b, s, app.ID, fmt.Sprintf("key %d", k))
			keys = append(keys, text)
			index[sha256.Sum256([]byte(text))] = key.ID
		}
	}

	var verify time.Duration
	n := 0
	start := time.Now()
	for b.Loop() {
		d, err := s.Verify(keys[n%benchKeys], scopes.ModelDeploy)
		if err != nil || !d.Allowed {
			b.Fatalf("Verify = %v, %v", d, err)
		}
		n++
	}
	verify = time.Since(start)

	found := 0
	start = time.Now()
	for i := range n {
		if _, ok := index[sha256.Sum256([]byte(keys[i%benchKeys]))]; ok {
			found++
		}
	}
	baseline := time.Since(start)
	if found != n {
		b.Fatalf("baseline found %d of %d keys", found, n)
	}
	b.ReportMetric(float64(verify)/float64(baseline), "x-baseline")
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
