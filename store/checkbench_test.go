package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// BenchmarkCheckStateHash measures the check of every record of a file of
// 100 apps and 10,000 keys (CheckRecords) against the same check without
// the state hash and the signed heads, as a store makes it when it opens:
// x-without is what hashing every app and key again adds to `check`, and
// ns/record what it costs a record. The two alternate, one of each per
// iteration, the first swapped every time.
func BenchmarkCheckStateHash(b *testing.B) {
	st, err := bolt.OpenStore(filepath.Join(b.TempDir(), "check.db"), bolt.Options{NoSync: true}, store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var specs []store.AppSpec
	for a := range 100 {
		spec := store.AppSpec{Name: fmt.Sprintf("App %d", a), Scopes: scopes.Full()}
		for k := range 100 {
			spec.Keys = append(spec.Keys, fmt.Sprintf("key %d", k))
		}
		specs = append(specs, spec)
	}
	if _, err := st.CreateApps(b.Context(), store.Actor{Name: "Ada", Role: store.Admin}, specs); err != nil {
		b.Fatal(err)
	}
	var full, without time.Duration
	run := func(all bool) {
		start := time.Now()
		check := st.CheckOnOpen
		if all {
			check = func(ctx context.Context) error { return st.CheckRecords(ctx) }
		}
		if err := check(b.Context()); err != nil {
			b.Fatal(err)
		}
		if all {
			full += time.Since(start)
		} else {
			without += time.Since(start)
		}
	}
	n := 0
	for b.Loop() {
		run(n%2 == 0)
		run(n%2 != 0)
		n++
	}
	b.ReportMetric(float64(full)/float64(without), "x-without")
	b.ReportMetric(float64(full-without)/float64(n)/10_100, "ns/record")
}
