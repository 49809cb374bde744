package api

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// confirming is an engine that says, as an etcd replica would, whether it
// can confirm it is current: as the test tells it.
type confirming struct {
	store.Engine
	current *atomic.Bool
}

func (c confirming) Current(time.Duration) bool { return c.current.Load() }

// unconfirmedStore is a store whose engine cannot yet confirm it is current,
// so it fails closed, with a key allowed model:deploy and model:export once
// it can; current makes it so.
func unconfirmedStore(t testing.TB) (st *store.Store, key string, current *atomic.Bool) {
	t.Helper()
	current = &atomic.Bool{}
	st, err := store.New(confirming{Engine: store.NewMemory(), current: current},
		store.WithMaxStaleness(time.Second), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app, err := st.CreateApp(context.Background(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	if key, _, err = st.CreateKey(context.Background(), admin, app.ID, "prod"); err != nil {
		t.Fatal(err)
	}
	return st, key, current
}

// waitFor polls cond until it holds, and fails the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
