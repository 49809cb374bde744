package store

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
)

// BenchmarkCheck measures the end-to-end check every Open runs (bbolt's page
// check, then every record decoded and cross-checked against the indexes)
// against the least any such check must do: read every key and value of
// every bucket once. The reported x-baseline is how many times slower Check
// is; ns/op is one Check of 20 apps, 2,000 keys and their audit trail.
func BenchmarkCheck(b *testing.B) {
	s := newTestStore(b)
	for a := range benchKeys / 100 {
		app := mustCreateApp(b, s, fmt.Sprintf("App %d", a), scopes.Full())
		for k := range 100 {
			mustCreateKey(b, s, app.ID, fmt.Sprintf("key %d", k))
		}
	}

	n := 0
	start := time.Now()
	for b.Loop() {
		if err := s.Check(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	check := time.Since(start)

	start = time.Now()
	for range n {
		total := 0
		err := s.db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error {
				return bk.ForEach(func(k, v []byte) error { total += len(k) + len(v); return nil })
			})
		})
		if err != nil || total == 0 {
			b.Fatalf("baseline read %d bytes: %v", total, err)
		}
	}
	baseline := time.Since(start)
	b.ReportMetric(float64(check)/float64(baseline), "x-baseline")
}
