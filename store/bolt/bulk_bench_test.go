package bolt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
	"apiscopes/store"
)

// BenchmarkCreateApps measures a bulk load through Store.CreateApps (10
// keys an app, every rule and audit event of one-by-one creation) in keys
// a second, against the least a durable load of the same bytes costs: raw
// bbolt puts of the very records the load committed, in transactions of
// the same records, on another file of the same folder. It loads 1,000
// apps unless APISCOPES_BULK_APPS asks for more.
func BenchmarkCreateApps(b *testing.B) {
	apps := 1000
	if v := os.Getenv("APISCOPES_BULK_APPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("APISCOPES_BULK_APPS=%q: give a number of apps", v)
		}
		apps = n
	}
	specs := make([]store.AppSpec, apps)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy), Keys: seqNames(10)}
	}
	var bulk, base time.Duration
	keys := 0
	for b.Loop() {
		dir := b.TempDir()
		e, err := Open(filepath.Join(dir, "bulk.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		rec := &recordingEngine{Engine: e}
		st, err := store.New(rec, store.WithMaintenance(0))
		if err != nil {
			b.Fatal(err)
		}
		rec.all = nil // the schema's own change
		start := time.Now()
		if _, err := st.CreateApps(context.Background(), admin, specs); err != nil {
			b.Fatal(err)
		}
		bulk += time.Since(start)
		keys += apps * 10
		st.Close()
		b.StopTimer()
		base += rawLoad(b, filepath.Join(dir, "raw.db"), rec.all)
		b.StartTimer()
	}
	b.ReportMetric(float64(keys)/bulk.Seconds(), "keys/s")
	b.ReportMetric(float64(keys)/base.Seconds(), "base-keys/s")
	b.ReportMetric(float64(bulk)/float64(base), "x-baseline")
}

// recordingEngine keeps every batch it committed.
type recordingEngine struct {
	*Engine
	all []store.Batch
}

func (r *recordingEngine) Commit(ctx context.Context, bt *store.Batch) (uint64, error) {
	rev, err := r.Engine.Commit(ctx, bt)
	if err == nil {
		r.all = append(r.all, store.Batch{Ops: bt.Ops})
	}
	return rev, err
}

// rawLoad writes the puts of batches into a new file at path, a bbolt
// transaction a batch, and returns how long it took.
func rawLoad(b *testing.B, path string, batches []store.Batch) time.Duration {
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	for _, bt := range batches {
		err = db.Update(func(tx *bbolt.Tx) error {
			for _, op := range bt.Ops {
				if op.Kind != store.OpPut {
					continue
				}
				bk, err := tx.CreateBucketIfNotExists([]byte(op.Table))
				if err != nil {
					return err
				}
				if err := bk.Put(op.Key, op.Value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}
