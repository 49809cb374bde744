package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

var concurrencyCases = []testCase{
	{"TwentyAdmins", testConcurrentAdmins},
}

// admins runs n admins making ops mixed changes and reads each, spread over
// the given stores (replicas of one database, or one store), as sessions of
// `serve` do: they race for the same names, delete what others are
// editing, save from stale copies and verify keys others may have just
// deleted. Every outcome must be a success or the refusal the race
// explains. It returns how many changes succeeded and every key made, by
// text, with its app.
func admins(t *testing.T, stores []*store.Store, n, ops int) (int64, map[string]uint64) {
	var writes atomic.Int64
	var mu sync.Mutex
	texts := map[string]uint64{}
	var wg sync.WaitGroup
	for w := range n {
		st := stores[w%len(stores)]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			actor := store.Actor{Name: fmt.Sprintf("admin %d", w), Role: store.Admin, Origin: "test"}
			var mine []string
			fail := func(op string, err error) { t.Errorf("admin %d, %s: unexpected %v", w, op, err) }
			// The apps as this admin last listed them: by the time one is
			// used it may well have been changed or deleted.
			var seen []store.App
			pick := func() (store.App, bool) {
				if len(seen) == 0 || rng.IntN(10) == 0 {
					var err error
					if seen, err = st.Apps(t.Context()); err != nil {
						fail("Apps", err)
					}
				}
				if len(seen) == 0 {
					return store.App{}, false
				}
				return seen[rng.IntN(len(seen))], true
			}
			pickKey := func() (store.Key, bool) {
				app, ok := pick()
				if !ok {
					return store.Key{}, false
				}
				keys, err := st.Keys(t.Context(), app.ID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					fail("Keys", err)
				}
				if len(keys) == 0 {
					return store.Key{}, false
				}
				return keys[rng.IntN(len(keys))], true
			}
			made := func(text string, appID uint64) {
				writes.Add(1)
				mine = append(mine, text)
				mu.Lock()
				texts[text] = appID
				mu.Unlock()
			}
			for i := range ops {
				switch op := rng.IntN(20); {
				case op < 2: // create an app, sometimes under a name others race for
					name := fmt.Sprintf("app %d-%d", w, i)
					if rng.IntN(3) == 0 {
						name = fmt.Sprintf("Shared %d", rng.IntN(5))
					}
					_, err := st.CreateApp(t.Context(), actor, name, randomSet(rng, 0))
					switch {
					case err == nil:
						writes.Add(1)
					case !errors.Is(err, store.ErrNameTaken):
						fail("CreateApp", err)
					}
				case op < 5: // create a key
					app, ok := pick()
					if !ok {
						continue
					}
					text, _, err := st.CreateKey(t.Context(), actor, app.ID, fmt.Sprintf("key %d-%d", w, i))
					switch {
					case err == nil:
						made(text, app.ID)
					case !errors.Is(err, store.ErrNotFound):
						fail("CreateKey", err)
					}
				case op < 6: // roll a key, at once or with a grace period
					k, ok := pickKey()
					if !ok {
						continue
					}
					text, nk, _, err := st.RollKey(t.Context(), actor, k.ID, time.Duration(rng.IntN(2))*time.Hour)
					switch {
					case err == nil:
						made(text, nk.AppID)
					case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrKeyRolled):
						fail("RollKey", err)
					}
				case op < 8: // delete a key
					k, ok := pickKey()
					if !ok {
						continue
					}
					switch err := st.DeleteKey(t.Context(), actor, k.ID); {
					case err == nil:
						writes.Add(1)
					case !errors.Is(err, store.ErrNotFound):
						fail("DeleteKey", err)
					}
				case op < 10: // delete an app and its keys
					app, ok := pick()
					if !ok {
						continue
					}
					switch err := st.DeleteApp(t.Context(), actor, app.ID); {
					case err == nil:
						writes.Add(1)
					case !errors.Is(err, store.ErrNotFound):
						fail("DeleteApp", err)
					}
				case op < 12: // rename and re-scope from the app as last listed
					app, ok := pick()
					if !ok {
						continue
					}
					_, err := st.SaveApp(t.Context(), actor, app, fmt.Sprintf("edited %d-%d", w, i), randomSet(rng, app.Scopes))
					switch {
					case err == nil:
						writes.Add(1)
					case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict):
						fail("SaveApp", err)
					}
				case op < 15: // verify one of my keys: allowed, not granted, or gone by now
					if len(mine) == 0 {
						continue
					}
					d, err := st.Verify(mine[rng.IntN(len(mine))], scopes.All()[rng.IntN(10)].ID)
					if err != nil {
						fail("Verify", err)
					}
					switch d.Reason {
					case store.Allowed, store.ScopeNotGranted, store.UnknownKey:
					default:
						t.Errorf("admin %d: Verify of a key it created = %v", w, d)
					}
				case op < 16: // a viewer in the crowd is refused every change
					if _, err := st.CreateApp(t.Context(), store.Actor{Name: "viewer", Role: store.Viewer}, "never", scopes.Full()); !errors.Is(err, store.ErrPermission) {
						t.Errorf("viewer CreateApp = %v", err)
					}
				case op < 17: // the store's own work: due deletions, last-used times
					if err := st.Maintain(t.Context()); err != nil {
						fail("Maintain", err)
					}
				case op < 19:
					if app, ok := pick(); ok {
						if _, err := st.Keys(t.Context(), app.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
							fail("Keys", err)
						}
					}
				default: // read the newest page of the trail, as the console does
					n := 0
					err := st.EachEvent(t.Context(), func(store.Event) error {
						if n++; n == 50 {
							return store.ErrStop
						}
						return nil
					})
					if err != nil {
						fail("EachEvent", err)
					}
				}
			}
		})
	}
	wg.Wait()
	return writes.Load(), texts
}

// afterAdmins checks what admins left: a sound database, exactly one audit
// event per change, and every key verifying or not exactly as the final
// state says.
func afterAdmins(t *testing.T, st *store.Store, writes int64, texts map[string]uint64) {
	t.Helper()
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	events, err := st.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	scheduled := 0
	for _, ev := range events {
		if ev.Scheduled {
			scheduled++
		}
	}
	if got := int64(len(events) - scheduled); got != writes {
		t.Errorf("the audit trail has %d events for %d changes (and %d scheduled deletions)", len(events), writes, scheduled)
	}
	live := map[uint64]bool{}
	apps, _ := st.Apps(t.Context())
	for _, a := range apps {
		keys, _ := st.Keys(t.Context(), a.ID)
		for _, k := range keys {
			live[k.ID] = true
		}
	}
	for text, appID := range texts {
		d, err := st.Verify(text, scopes.WorkflowDeploy)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Reason == store.UnknownKey:
		case !live[d.Key().ID] || d.App().ID != appID:
			t.Errorf("key %d of app %d verifies for app %d, but is not among the keys", d.Key().ID, appID, d.App().ID)
		case d.Allowed != d.App().Scopes.Allows(scopes.WorkflowDeploy):
			t.Errorf("key %d: %v, but its app has %v", d.Key().ID, d, d.App().Scopes)
		}
	}
	t.Logf("%d changes, %d scheduled deletions; %d apps and %d keys left", writes, scheduled, len(apps), len(live))
}

// Twenty admins making 500 mixed changes and reads each through one store
// end in success or the refusal the race explains; the database then
// passes Check and the audit trail holds one event per change.
func testConcurrentAdmins(t *testing.T, e *env) {
	n, ops := 20, e.h.scaled(500)
	writes, texts := admins(t, []*store.Store{e.st}, n, ops)
	if writes < int64(n*ops/5) {
		t.Errorf("only %d changes succeeded: the test no longer exercises writes", writes)
	}
	afterAdmins(t, e.st, writes, texts)
}

var replicaCases = []testCase{
	{"SeeEachOthersChanges", testReplicasSee},
	{"ActOnChangesNotYetHeardOf", testLaggingReplica},
	{"AdminsOnTwoReplicas", testReplicaAdmins},
	{"OlderReplicaFailsClosedWhenTheClusterMigrates", testOlderReplicaFailsClosed},
}

func replica(t *testing.T, e *env) *store.Store {
	t.Helper()
	if !e.h.Shared {
		t.Skip("the engine holds its database alone")
	}
	st, _ := e.store()
	return st
}

// A change made through one replica reaches the other's index, feed and
// reads.
func testReplicasSee(t *testing.T, e *env) {
	b := replica(t, e)
	sub := b.Subscribe()
	defer sub.Close()
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, _ := e.key(t.Context(), app.ID, "ci")
	if up := receive(t, sub); up.Event.Action != store.ActionAppCreate || up.App == nil || up.App.Name != "Risk" {
		t.Errorf("the other replica's first update = %+v", up)
	}
	receive(t, sub)
	eventually(t, "the key verifies on the other replica", func() bool {
		d, _ := b.Verify(text, scopes.ModelDeploy)
		return d.Allowed
	})
	cur, err := b.App(t.Context(), app.ID)
	if err != nil || cur.Keys != 1 {
		t.Fatalf("the other replica reads %+v, %v", cur, err)
	}
	if _, err := b.SaveApp(t.Context(), Admin, cur, "Risk", scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the re-scope reaches the first replica", func() bool {
		d, _ := e.st.Verify(text, scopes.ModelDeploy)
		return d.Reason == store.ScopeNotGranted
	})
	// A save from the first replica's old copy is a conflict there too.
	if _, err := e.st.SaveApp(t.Context(), Admin, app, "Risk", scopes.Full()); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a save from a copy the other replica changed = %v", err)
	}
}

// A replica that has not heard of another's latest change yet still acts
// on it rightly: it reads the records, not its index, when it changes them.
func testLaggingReplica(t *testing.T, e *env) {
	if !e.h.Shared {
		t.Skip("the engine holds its database alone")
	}
	lag := &lagging{Engine: e.open(t), held: true}
	eng := Limit(lag)
	b, err := store.New(eng, store.WithClock(e.clock.Now), store.WithRandom(e.random), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); eng.Verify(t) })
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	_, k1 := e.key(t.Context(), app.ID, "one")
	_, k2 := e.key(t.Context(), app.ID, "two")
	if d, _ := b.Verify(KeyText(make([]byte, 32)), scopes.ModelDeploy); d.Reason != store.UnknownKey {
		t.Fatal(d)
	}
	if err := b.DeleteKey(t.Context(), Admin, k1.ID); err != nil {
		t.Fatalf("deleting a key this replica has not heard of: %v", err)
	}
	lag.deliver.Lock()
	lag.held = true // deaf again
	lag.deliver.Unlock()
	_, k3 := e.key(t.Context(), app.ID, "three")
	text, _, _, err := b.RollKey(t.Context(), Admin, k3.ID, time.Hour)
	if err != nil {
		t.Fatalf("rolling a key this replica has not heard of: %v", err)
	}
	eventually(t, "the rolled key verifies on the first replica", func() bool {
		d, _ := e.st.Verify(text, scopes.ModelDeploy)
		return d.Allowed
	})
	keys, _ := e.st.Keys(t.Context(), app.ID)
	if len(keys) != 3 || keys[0].ID != k2.ID || keys[1].ID != k3.ID || keys[1].DeleteAt.IsZero() {
		t.Errorf("keys after the other replica's changes = %+v", keys)
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

// Admins on two replicas of one database: every change lands once, the
// audit trail has no hole, and both replicas end up agreeing.
func testReplicaAdmins(t *testing.T, e *env) {
	b := replica(t, e)
	writes, texts := admins(t, []*store.Store{e.st, b}, 10, e.h.scaled(150))
	// A last change through each replica, heard by the other: the change
	// stream is ordered, so each has then applied everything before it.
	for i, pair := range [][2]*store.Store{{e.st, b}, {b, e.st}} {
		app, err := pair[0].CreateApp(t.Context(), Admin, fmt.Sprintf("last %d", i), scopes.Full())
		if err != nil {
			t.Fatal(err)
		}
		text, _, err := pair[0].CreateKey(t.Context(), Admin, app.ID, "last")
		if err != nil {
			t.Fatal(err)
		}
		writes += 2
		texts[text] = app.ID
		eventually(t, "the other replica hears of the last change", func() bool {
			d, _ := pair[1].Verify(text, scopes.ModelDeploy)
			return d.Allowed
		})
	}
	for _, st := range []*store.Store{e.st, b} {
		afterAdmins(t, st, writes, texts)
	}
}
