package etcd

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

var admin = store.Actor{Name: "Ada", Role: store.Admin, Origin: "test"}

// openStore opens a store on an engine of the test cluster, closed when
// the test ends.
func openStore(t testing.TB, prefix string, mod ...func(*Config)) (*store.Store, *Engine) {
	t.Helper()
	e := openEngine(t, prefix, mod...)
	st, err := store.New(e, store.WithName(e.Name()), store.WithMaintenance(0))
	if err != nil {
		t.Fatalf("open a store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, e
}

func verify(t testing.TB, st *store.Store, text string, scope scopes.ID) store.Decision {
	t.Helper()
	d, err := st.Verify(text, scope)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return d
}

func TestStore(t *testing.T) {
	prefix := newPrefix(t)
	st, _ := openStore(t, prefix)
	app, err := st.CreateApp(t.Context(), admin, "Billing", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateApp(t.Context(), admin, "billing", scopes.Full()); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("a second app of the same name: %v", err)
	}
	sub := st.Subscribe()
	defer sub.Close()
	text, key, err := st.CreateKey(t.Context(), admin, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	// The writer's own change is in its index when the call returns.
	if d := verify(t, st, text, scopes.ModelDeploy); !d.Allowed {
		t.Fatalf("a new key: %v", d)
	}
	if d := verify(t, st, text, scopes.ModelExport); d.Reason != store.ScopeNotGranted {
		t.Fatalf("a scope the app lacks: %v", d)
	}
	select {
	case up := <-sub.C:
		if up.Event.Action != store.ActionKeyCreate || up.Event.KeyID != key.ID {
			t.Fatalf("feed: %+v", up)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the feed did not tell of the new key")
	}
	newText, _, _, err := st.RollKey(t.Context(), admin, key.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := verify(t, st, text, scopes.ModelDeploy); d.Reason != store.UnknownKey {
		t.Fatalf("a key rolled with no grace: %v", d)
	}
	if d := verify(t, st, newText, scopes.ModelDeploy); !d.Allowed {
		t.Fatalf("its new key: %v", d)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	events, err := st.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Fatalf("%d audit events, want 3 (create app, create key, roll)", len(events))
	}
	for i, ev := range events {
		if want := uint64(len(events) - i); ev.Seq != want {
			t.Fatalf("audit event %d has number %d, want %d", i, ev.Seq, want)
		}
	}

	// Opened again, the store finds everything as it was.
	st.Close()
	st2, _ := openStore(t, prefix)
	if d := verify(t, st2, newText, scopes.ModelDeploy); !d.Allowed {
		t.Fatalf("after a reopen: %v", d)
	}
	apps, err := st2.Apps(t.Context())
	if err != nil || len(apps) != 1 || apps[0].Name != "Billing" {
		t.Fatalf("apps after a reopen: %+v, %v", apps, err)
	}
}

// TestDeleteBigApp deletes an app of 500 keys on a default-configured
// cluster (128 operations per transaction): the keys go in one range
// removal, and their digests in small sweeps afterwards.
func TestDeleteBigApp(t *testing.T) {
	prefix := newPrefix(t)
	st, e := openStore(t, prefix)
	var names []string
	for i := range 500 {
		names = append(names, fmt.Sprintf("key %03d", i))
	}
	n, err := st.CreateApps(t.Context(), admin, []store.AppSpec{{Name: "Big", Scopes: scopes.Full(), Keys: names}})
	if err != nil || n != 1 {
		t.Fatalf("create an app of 500 keys: %d, %v", n, err)
	}
	apps, err := st.Apps(t.Context())
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps: %+v, %v", apps, err)
	}
	text, _, err := st.CreateKey(t.Context(), admin, apps[0].ID, "one more")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := st.Keys(t.Context(), apps[0].ID)
	if err != nil || len(keys) != 501 {
		t.Fatalf("%d keys, %v; want 501", len(keys), err)
	}
	if err := st.DeleteApp(t.Context(), admin, apps[0].ID); err != nil {
		t.Fatalf("delete the app: %v", err)
	}
	if d := verify(t, st, text, scopes.ModelDeploy); d.Reason != store.UnknownKey {
		t.Fatalf("a key of the deleted app: %v", d)
	}
	if got := scan(t, e, store.TableKeys, "", store.ScanOptions{}); len(got) != 0 {
		t.Fatalf("%d key records left", len(got))
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Opening the store again sweeps the digests the app left.
	st.Close()
	st, e = openStore(t, prefix)
	if got := scan(t, e, store.TableDigests, "", store.ScanOptions{}); len(got) != 0 {
		t.Fatalf("%d digests left after the sweep", len(got))
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestTwoStores: two replicas on one database. Each sees the other's
// changes in its index (Verify) and its feed, within a bounded wait.
func TestTwoStores(t *testing.T) {
	prefix := newPrefix(t)
	a, _ := openStore(t, prefix)
	b, _ := openStore(t, prefix)
	subB := b.Subscribe()
	defer subB.Close()

	app, err := a.CreateApp(t.Context(), admin, "Search", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	text, key, err := a.CreateKey(t.Context(), admin, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "replica B to allow the key made on A", func() bool {
		return verify(t, b, text, scopes.ModelDeploy).Allowed
	})
	for _, want := range []store.Action{store.ActionAppCreate, store.ActionKeyCreate} {
		select {
		case up := <-subB.C:
			if up.Event.Action != want {
				t.Fatalf("B's feed: %+v, want %s", up.Event, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("B's feed did not tell of %s", want)
		}
	}

	// B changes the app's scopes; A sees it.
	got, err := b.App(t.Context(), app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SaveApp(t.Context(), admin, got, got.Name, scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "replica A to apply B's change of scopes", func() bool {
		return verify(t, a, text, scopes.ModelExport).Allowed && !verify(t, a, text, scopes.ModelDeploy).Allowed
	})

	// A deletes the key; B refuses it.
	if err := a.DeleteKey(t.Context(), admin, key.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "replica B to refuse the key deleted on A", func() bool {
		return verify(t, b, text, scopes.ModelExport).Reason == store.UnknownKey
	})

	// Both write at once: every change is made once, under one audit
	// sequence without holes.
	var wg sync.WaitGroup
	for i, st := range []*store.Store{a, b} {
		wg.Go(func() {
			for j := range 10 {
				if _, err := st.CreateApp(t.Context(), admin, fmt.Sprintf("app %d-%d", i, j), scopes.Full()); err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	for _, st := range []*store.Store{a, b} {
		events, err := st.Audit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 24 {
			t.Fatalf("%d audit events, want 24", len(events))
		}
		for i, ev := range events {
			if ev.Seq != uint64(len(events)-i) {
				t.Fatalf("audit sequence has a hole or a repeat at %d: %d", i, ev.Seq)
			}
		}
		if err := st.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNewerSchema: a store refuses a database a newer apiscopes wrote, and
// a running store refuses to write once one has upgraded it.
func TestNewerSchema(t *testing.T) {
	prefix := newPrefix(t)
	st, e := openStore(t, prefix)
	if _, err := st.CreateApp(t.Context(), admin, "Before", scopes.Full()); err != nil {
		t.Fatal(err)
	}
	b := put(store.TableMeta, "schema", "apiscopes/99")
	b.Require(store.TableMeta, []byte("schema"), []byte(store.Schema))
	commit(t, e, b) // as a newer apiscopes migrating the database would

	_, err := st.CreateApp(t.Context(), admin, "After", scopes.Full())
	if err == nil {
		t.Fatal("a store wrote to a database of a newer schema")
	}
	if !errors.Is(err, store.ErrNewerSchema) && !errors.Is(err, store.ErrBusy) {
		t.Fatalf("write to a newer schema: %v", err)
	}
	t.Logf("write to a newer schema: %v", err)
	apps, err := st.Apps(t.Context())
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps: %+v, %v", apps, err)
	}
	if v := get(t, e, store.TableMeta, "schema"); string(v) != "apiscopes/99" {
		t.Fatalf("schema is now %q", v)
	}

	other := openEngine(t, prefix)
	if _, err := store.New(other, store.WithMaintenance(0)); !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("opening a database of a newer schema: %v", err)
	}
}

// TestMemberStopped hard-stops the leader while two replicas write: no
// write that was acknowledged is lost, writes go on once another member
// leads, and the audit sequence has no hole.
func TestMemberStopped(t *testing.T) {
	prefix := newPrefix(t)
	a, _ := openStore(t, prefix)
	b, _ := openStore(t, prefix)

	var mu sync.Mutex
	var acked []string // apps whose creation returned no error
	var unknown int    // creations whose outcome the cluster did not tell
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, st := range []*store.Store{a, b} {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("app %d-%04d", i, j)
				_, err := st.CreateApp(t.Context(), admin, name, scopes.Full())
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, name)
				case errors.Is(err, store.ErrWriteFailed) || errors.Is(err, store.ErrBusy):
					unknown++
				default:
					t.Errorf("create %s: %v", name, err)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	eventually(t, 30*time.Second, "writes before the stop", func() bool { return count() >= 20 })
	lead := cluster.leader(t)
	lead.hardStop()
	restarted := false
	defer func() {
		if !restarted {
			lead.start()
		}
	}()
	before := count()
	eventually(t, 60*time.Second, "writes after the leader stopped", func() bool { return count() >= before+20 })
	close(stop)
	wg.Wait()
	t.Logf("%d writes acknowledged, %d failed or unknown", count(), unknown)
	restarted = true
	if err := lead.start(); err != nil {
		t.Fatalf("restart member %s: %v", lead.cfg.Name, err)
	}

	for _, st := range []*store.Store{a, b} {
		apps, err := st.Apps(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var have []string
		for _, app := range apps {
			have = append(have, app.Name)
		}
		for _, name := range acked {
			if !slices.Contains(have, name) {
				t.Fatalf("acknowledged app %q is missing", name)
			}
		}
		if err := st.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOtherPrefixes: another database on the cluster moves the revision
// on; a store's writes still return at once.
func TestOtherPrefixes(t *testing.T) {
	st, _ := openStore(t, newPrefix(t))
	other := openEngine(t, newPrefix(t))
	for i := range 5 {
		commit(t, other, put(store.TableMeta, "x", fmt.Sprint(i)))
		done := make(chan error, 1)
		go func() {
			_, err := st.CreateApp(t.Context(), admin, fmt.Sprintf("app %d", i), scopes.Full())
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a write did not return")
		}
	}
}
