package store_test

import (
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// confirming is an engine whose change stream is current or not as a test
// says, as a cluster replica cut off from its quorum is not.
type confirming struct {
	store.Engine
	current atomic.Bool
}

func (c *confirming) Current(time.Duration) bool { return c.current.Load() }

// TestFailsClosedWhenNotCurrent: a store that cannot confirm its engine is
// current answers every check Unavailable — never allowed, never
// unknown_key — until it can again, and says it is not ready.
func TestFailsClosedWhenNotCurrent(t *testing.T) {
	eng := &confirming{Engine: store.NewMemory()}
	st, err := store.New(eng, store.WithMaxStaleness(time.Second), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, _ := st.CreateApp(t.Context(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	key, _, _ := st.CreateKey(t.Context(), admin, app.ID, "prod")
	if d, _ := st.Verify(key, scopes.ModelDeploy); d.Reason != store.Unavailable || d.Allowed || st.Ready() {
		t.Fatalf("before the first confirmation: %+v, ready %v", d, st.Ready())
	}
	wait := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); st.Ready() != want; {
			if time.Now().After(deadline) {
				t.Fatalf("Ready stayed %v", !want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	eng.current.Store(true)
	wait(true)
	if d, _ := st.Verify(key, scopes.ModelDeploy); !d.Allowed {
		t.Fatalf("current: %+v", d)
	}
	eng.current.Store(false)
	wait(false)
	for _, k := range []string{key, "aps_" + key[4:10] + "0" + key[11:]} {
		if d, _ := st.Verify(k, scopes.ModelDeploy); d.Reason != store.Unavailable {
			t.Fatalf("stale: %+v", d)
		}
	}
	eng.current.Store(true)
	wait(true)
	if d, _ := st.Verify(key, scopes.ModelDeploy); !d.Allowed {
		t.Fatalf("recovered: %+v", d)
	}
}
