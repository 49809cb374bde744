package etcd

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"apiscopes/scopes"
	"apiscopes/store"
)

// batches is an engine that keeps every batch it committed.
type batches struct {
	*Engine
	mu  sync.Mutex
	all []store.Batch
}

func (r *batches) Commit(ctx context.Context, bt *store.Batch) (uint64, error) {
	rev, err := r.Engine.Commit(ctx, bt)
	if err == nil {
		r.mu.Lock()
		r.all = append(r.all, store.Batch{Conds: bt.Conds, Ops: bt.Ops})
		r.mu.Unlock()
	}
	return rev, err
}

// BenchmarkCreateApps measures a bulk load through Store.CreateApps on the
// cluster (10 keys an app, every rule and audit event of one-by-one
// creation, each change within etcd's default limits) in keys a second,
// against raw transactions of the very same writes, sent again one after
// another under another prefix: what etcd charges for the records
// themselves, in changes of that size. x-baseline is how many times
// slower the load is.
func BenchmarkCreateApps(b *testing.B) {
	const apps = 200
	specs := make([]store.AppSpec, apps)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy), Keys: seqKeyNames(10)}
	}
	cli := rawClient(b)
	ctx := context.Background()
	var bulk, base time.Duration
	keys := 0
	for i := 0; b.Loop(); i++ {
		e := openEngine(b, newPrefix(b))
		rec := &batches{Engine: e}
		st, err := store.New(rec, store.WithName(e.Name()), store.WithMaintenance(0))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := st.CreateApps(ctx, store.Actor{Name: "Ada", Role: store.Admin}, specs); err != nil {
			b.Fatal(err)
		}
		bulk += time.Since(start)
		keys += apps * 10
		st.Close()
		b.StopTimer()
		raw := newPrefix(b) + "raw/"
		var txns [][]clientv3.Op
		for _, bt := range rec.all {
			var ops []clientv3.Op
			for _, o := range bt.Ops {
				if o.Kind == store.OpPut {
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("%s%s/%x", raw, o.Table, o.Key), string(o.Value)))
				}
			}
			txns = append(txns, ops)
		}
		b.StartTimer()
		start = time.Now()
		for _, ops := range txns {
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
		}
		base += time.Since(start)
	}
	b.ReportMetric(float64(keys)/bulk.Seconds(), "keys/s")
	b.ReportMetric(float64(keys)/base.Seconds(), "base-keys/s")
	b.ReportMetric(float64(bulk)/float64(base), "x-baseline")
}

func seqKeyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("key %d", i)
	}
	return out
}
