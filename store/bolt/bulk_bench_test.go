package bolt

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
	"apiscopes/store"
)

// BenchmarkCreateApps measures a bulk load through Store.CreateApps (10
// keys an app, every rule and audit event of one-by-one creation) in keys
// a second, against the least a durable load of the same bytes costs: raw
// bbolt puts of as many records of the same sizes, in transactions of as
// many records, on another file of the same folder.
func BenchmarkCreateApps(b *testing.B) {
	const apps = 1000
	specs := make([]store.AppSpec, apps)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy), Keys: seqNames(10)}
	}
	var bulk, base time.Duration
	keys := 0
	for i := 0; b.Loop(); i++ {
		dir := b.TempDir()
		st, err := OpenStore(filepath.Join(dir, "bulk.db"), Options{}, store.WithMaintenance(0))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := st.CreateApps(admin, specs); err != nil {
			b.Fatal(err)
		}
		bulk += time.Since(start)
		keys += apps * 10
		st.Close()
		b.StopTimer()
		base += rawLoad(b, filepath.Join(dir, "bulk.db"), filepath.Join(dir, "raw.db"))
		b.StartTimer()
	}
	b.ReportMetric(float64(keys)/bulk.Seconds(), "keys/s")
	b.ReportMetric(float64(keys)/base.Seconds(), "base-keys/s")
	b.ReportMetric(float64(bulk)/float64(base), "x-baseline")
}

// rawLoad writes every record of the file at from into a new file at to,
// the same buckets, keys and values, in one bbolt transaction, and returns
// how long it took.
func rawLoad(b *testing.B, from, to string) time.Duration {
	src, err := bbolt.Open(from, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	type rec struct{ bucket, k, v []byte }
	var recs []rec
	err = src.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
			return bk.ForEach(func(k, v []byte) error {
				recs = append(recs, rec{append([]byte(nil), name...), append([]byte(nil), k...), append([]byte(nil), v...)})
				return nil
			})
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	dst, err := bbolt.Open(to, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	start := time.Now()
	err = dst.Update(func(tx *bbolt.Tx) error {
		for _, r := range recs {
			bk, err := tx.CreateBucketIfNotExists(r.bucket)
			if err != nil {
				return err
			}
			if err := bk.Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
