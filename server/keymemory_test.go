package server

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// keyCost opens a store of keys keys (ten an app) and returns the heap it
// holds after a collection, beside an empty store's.
func keyCost(tb testing.TB, keys int) (perKey uint64) {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "keys.db")
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	specs := make([]store.AppSpec, keys/10)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("Service %06d", i), Scopes: scopes.NewSet(scopes.ModelDeploy, scopes.WorkflowExport),
			Keys: []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"}}
	}
	if _, err := st.CreateApps(context.Background(), store.Actor{Name: "Loader", Role: store.Admin}, specs); err != nil {
		tb.Fatal(err)
	}
	st.Close()
	empty, err := bolt.OpenStore(filepath.Join(dir, "empty.db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	before := measureMemory()
	full, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	after := measureMemory()
	full.Close()
	empty.Close()
	if after.heap < before.heap {
		return 0
	}
	return (after.heap - before.heap) / uint64(keys)
}

func BenchmarkKeyMemory(b *testing.B) {
	var per uint64
	for b.Loop() {
		per = keyCost(b, 20000)
	}
	b.ReportMetric(float64(per), "heap-B/key")
}
