package bolt

import (
	"fmt"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
	"apiscopes/store"
)

// BenchmarkCreateKey measures Store.CreateKey (key generation, hashing, the
// name check, the records, the audit event and its compare-and-swap of the
// audit head, in one transaction) against the least a durable write costs:
// a bare bbolt Update with one Put of a record of the same size, on the
// same file. Both are timed in alternating blocks. The goal is 2 or less.
func BenchmarkCreateKey(b *testing.B) {
	st := newStore(b, store.WithClock(time.Now))
	app := mustApp(b, st, "Bench", scopes.NewSet(scopes.ModelDeploy))
	db := st.Engine().(*Engine).db
	value := make([]byte, 256)
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("bench")); return err }); err != nil {
		b.Fatal(err)
	}
	const block = 32
	var create, baseline time.Duration
	n, nBase := 0, 0
	base := func() {
		b.StopTimer()
		start := time.Now()
		for range block {
			err := db.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("bench")).Put(beBytes(uint64(nBase)), value)
			})
			if err != nil {
				b.Fatal(err)
			}
			nBase++
		}
		baseline += time.Since(start)
		b.StartTimer()
	}
	blockStart := time.Now()
	for b.Loop() {
		if n%block == 0 && n > 0 {
			create += time.Since(blockStart)
			base()
			blockStart = time.Now()
		}
		if _, _, err := st.CreateKey(b.Context(), admin, app.ID, fmt.Sprintf("key %d", n)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	create += time.Since(blockStart)
	base()
	b.ReportMetric((float64(create)/float64(n))/(float64(baseline)/float64(nBase)), "x-baseline")
}

// BenchmarkCheck measures the end-to-end check every open runs (bbolt's
// page check, then every record decoded and cross-checked against the
// indexes) against the least any such check must do: read every key and
// value of every bucket once. ns/op is one Check of 20 apps, 2,000 keys
// and their audit trail.
func BenchmarkCheck(b *testing.B) {
	st := newStore(b)
	var specs []store.AppSpec
	for a := range 20 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %d", a), Scopes: scopes.Full(), Keys: seqNames(100)})
	}
	if _, err := st.CreateApps(b.Context(), admin, specs); err != nil {
		b.Fatal(err)
	}
	db := st.Engine().(*Engine).db
	n := 0
	start := time.Now()
	for b.Loop() {
		if err := st.Check(b.Context()); err != nil {
			b.Fatal(err)
		}
		n++
	}
	check := time.Since(start)
	start = time.Now()
	for range n {
		total := 0
		err := db.View(func(tx *bbolt.Tx) error {
			return tx.ForEach(func(_ []byte, bk *bbolt.Bucket) error {
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

func seqNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("key %d", i)
	}
	return out
}
