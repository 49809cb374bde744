package etcd

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"apiscopes/scopes"
	"apiscopes/store"
)

// BenchmarkCopy measures what apiscopes migrate does into the cluster
// (store.Copy from a database of 10 keys an app, its check of the copy
// included) in the source's keys a second, against the same entries written
// by raw transactions of a hundred, one after another, as a copy wrote
// them before it overlapped them: x-baseline below 1 is faster than that.
// The source has 20,000 keys unless APISCOPES_COPY_KEYS asks for more.
func BenchmarkCopy(b *testing.B) {
	keys := 20_000
	if v := os.Getenv("APISCOPES_COPY_KEYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			b.Fatalf("APISCOPES_COPY_KEYS=%q: give a number of keys, 10 or more", v)
		}
		keys = n
	}
	src := store.NewMemory()
	st, err := store.New(src, store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	specs := make([]store.AppSpec, keys/10)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy), Keys: seqKeyNames(10)}
	}
	if _, err := st.CreateApps(context.Background(), store.Actor{Name: "Ada", Role: store.Admin}, specs); err != nil {
		b.Fatal(err)
	}
	var entries []clientv3.Op
	err = src.Read(context.Background(), func(snap store.Snapshot) error {
		for _, t := range store.Tables {
			err := snap.Scan(t, nil, store.ScanOptions{}, func(k, v []byte) error {
				entries = append(entries, clientv3.OpPut(fmt.Sprintf("%s/%x", t, k), string(v)))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	cli := rawClient(b)
	ctx := context.Background()
	var took, base time.Duration
	n := 0
	for b.Loop() {
		e := openEngine(b, newPrefix(b))
		start := time.Now()
		if _, err := store.Copy(ctx, src, e, nil); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		n++
		raw := newPrefix(b) + "raw/"
		start = time.Now()
		for i := 0; i < len(entries); i += 100 {
			var ops []clientv3.Op
			for _, op := range entries[i:min(i+100, len(entries))] {
				ops = append(ops, clientv3.OpPut(raw+string(op.KeyBytes()), string(op.ValueBytes())))
			}
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
		}
		base += time.Since(start)
	}
	b.ReportMetric(float64(n*keys)/took.Seconds(), "keys/s")
	b.ReportMetric(float64(n*keys)/base.Seconds(), "base-keys/s")
	b.ReportMetric(float64(took)/float64(base), "x-baseline")
}
