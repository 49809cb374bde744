package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

var bulkCases = []testCase{
	{"SameRecordsAsOneByOne", testCreateApps},
	{"SameRulesAsOneByOne", testCreateAppsRules},
	{"ResumableCount", testCreateAppsResumable},
	{"AppWith500Keys", testCreateLargeApp},
	{"DeleteAppWith500Keys", testDeleteLargeApp},
}

// A bulk load is what the same apps and keys made one by one would be,
// audit included.
func testCreateApps(t *testing.T, e *env) {
	specs := []store.AppSpec{
		{Name: "Payments", Scopes: scopes.NewSet(scopes.WorkflowDeploy), Keys: []string{"a", "b"}},
		{Name: "lending", Scopes: scopes.NewSet(scopes.ModelExport)},
	}
	n, err := e.st.CreateApps(t.Context(), Admin, specs)
	if err != nil || n != 2 {
		t.Fatalf("CreateApps = %d, %v", n, err)
	}
	apps, err := e.st.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0].Name != "lending" || apps[1].Keys != 2 || apps[1].CreatedBy != Admin.Name ||
		apps[1].Scopes != specs[0].Scopes || apps[1].Revision != 3 {
		t.Fatalf("apps = %+v", apps)
	}
	keys, _ := e.st.Keys(t.Context(), apps[1].ID)
	if len(keys) != 2 || keys[0].Name != "a" || keys[1].Name != "b" || keys[0].Hint == "" || keys[0].CreatedBy != Admin.Name {
		t.Fatalf("keys = %+v", keys)
	}
	evs, _ := e.st.Audit(t.Context())
	var actions []store.Action
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	want := []store.Action{store.ActionAppCreate, store.ActionKeyCreate, store.ActionKeyCreate, store.ActionAppCreate}
	if !slices.Equal(actions, want) {
		t.Errorf("audit = %v, want %v", actions, want)
	}
	if evs[1].KeyHint != keys[1].Hint || evs[1].AppID != apps[1].ID {
		t.Errorf("key.create event = %+v", evs[1])
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

// Every rule of CreateApp and CreateKey holds in a bulk load, and a refused
// load writes nothing.
func testCreateAppsRules(t *testing.T, e *env) {
	set := scopes.NewSet(scopes.ModelExport)
	e.app(t.Context(), "Payments", set)
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, bad := range []struct {
		name  string
		specs []store.AppSpec
		err   error
	}{
		{"a taken name", []store.AppSpec{{Name: "PAYMENTS", Scopes: set}}, store.ErrNameTaken},
		{"one key name twice", []store.AppSpec{{Name: "New", Scopes: set, Keys: []string{"k", "K"}}}, store.ErrNameTaken},
		{"one key name twice, large", []store.AppSpec{{Name: "New", Scopes: set, Keys: append(seq(100, "k%d"), "K7")}}, store.ErrNameTaken},
		{"no scopes", []store.AppSpec{{Name: "New"}}, store.ErrNoScopes},
		{"no scopes, large", []store.AppSpec{{Name: "New", Keys: seq(100, "k%d")}}, store.ErrNoScopes},
		{"a hostile name", []store.AppSpec{{Name: "\x1b[2J", Scopes: set}}, store.ErrNameInvalid},
		{"a hostile key name", []store.AppSpec{{Name: "New", Scopes: set, Keys: []string{"\x1b]0;x\x07"}}}, store.ErrNameInvalid},
		{"a long key name", []store.AppSpec{{Name: "New", Scopes: set, Keys: []string{strings.Repeat("k", 65)}}}, store.ErrNameTooLong},
		{"an empty key name", []store.AppSpec{{Name: "New", Scopes: set, Keys: []string{" "}}}, store.ErrNameEmpty},
	} {
		if n, err := e.st.CreateApps(t.Context(), Admin, bad.specs); !errors.Is(err, bad.err) || n != 0 {
			t.Errorf("%s: CreateApps = %d, %v; want 0, %v", bad.name, n, err, bad.err)
		}
	}
	if n, err := e.st.CreateApps(t.Context(), Viewer, []store.AppSpec{{Name: "New", Scopes: set}}); !errors.Is(err, store.ErrPermission) || n != 0 {
		t.Errorf("a viewer's bulk load = %d, %v", n, err)
	}
	e.unchanged(t, "refused bulk loads", before, batches)
	// Within one load too, a name is taken once made.
	n, err := e.st.CreateApps(t.Context(), Admin, []store.AppSpec{{Name: "New", Scopes: set}, {Name: " new ", Scopes: set}})
	if !errors.Is(err, store.ErrNameTaken) || n != 1 {
		t.Errorf("one name twice = %d, %v; want 1 and ErrNameTaken", n, err)
	}
	// Default names are the first free ones, as CreateApp's are.
	n, err = e.st.CreateApps(t.Context(), Admin, []store.AppSpec{{Scopes: set}, {Scopes: set}, {Name: "Untitled app 4", Scopes: set}, {Scopes: set}})
	if err != nil || n != 4 {
		t.Fatalf("CreateApps of unnamed apps = %d, %v", n, err)
	}
	apps, _ := e.st.Apps(t.Context())
	if got := names(apps); !slices.Equal(got, []string{"New", "Payments", "Untitled app", "Untitled app 2", "Untitled app 3", "Untitled app 4"}) {
		t.Errorf("apps = %q", got)
	}
}

// On a failure, the apps of specs[:created] exist and none after them, so
// a load can resume from the spec that failed.
func testCreateAppsResumable(t *testing.T, e *env) {
	var specs []store.AppSpec
	for i := range 20 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %02d", i), Scopes: scopes.Full(), Keys: []string{"a", "b"}})
	}
	for _, bad := range []int{13, 0, 3} {
		specs[bad].Name = "\x1b[2JApp"
		done, _ := e.st.Apps(t.Context())
		n, err := e.st.CreateApps(t.Context(), Admin, specs[len(done):])
		if !errors.Is(err, store.ErrNameInvalid) || len(done)+n != bad {
			t.Fatalf("CreateApps with spec %d bad = %d, %v; want %d", bad, len(done)+n, err, bad-len(done))
		}
		apps, _ := e.st.Apps(t.Context())
		if got := names(apps); !slices.Equal(got, seq(bad, "App %02d")) {
			t.Fatalf("after a failure at spec %d the apps are %q", bad, got)
		}
		specs[bad].Name = fmt.Sprintf("App %02d", bad)
		if bad != 13 {
			continue
		}
		// Resume: the rest are made.
		n, err = e.st.CreateApps(t.Context(), Admin, specs[n:])
		if err != nil || n != 7 {
			t.Fatalf("resuming = %d, %v", n, err)
		}
		apps, _ = e.st.Apps(t.Context())
		if got := names(apps); !slices.Equal(got, seq(20, "App %02d")) {
			t.Fatalf("after resuming the apps are %q", got)
		}
		for _, a := range apps {
			if err := e.st.DeleteApp(t.Context(), Admin, a.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	events, _ := e.st.Audit(t.Context())
	creates := 0
	for _, ev := range events {
		if ev.Action == store.ActionAppCreate {
			creates++
		}
	}
	if creates != 20+3 {
		t.Errorf("%d app.create events, want one for each app made", creates)
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

// largeApp loads an app with n keys and returns it with its keys' texts,
// re-derived from the random source the store drew them from.
func largeApp(t *testing.T, e *env, name string, n int) (store.App, []string) {
	t.Helper()
	rec := NewRecorder(Random(byte(n)))
	e.reopen(store.WithRandom(rec))
	created, err := e.st.CreateApps(t.Context(), Admin, []store.AppSpec{{Name: name, Scopes: scopes.Full(), Keys: seq(n, "key %03d")}})
	if err != nil || created != 1 {
		t.Fatalf("CreateApps of an app with %d keys = %d, %v", n, created, err)
	}
	apps, _ := e.st.Apps(t.Context())
	i := slices.IndexFunc(apps, func(a store.App) bool { return a.Name == name })
	texts := rec.Keys()
	if len(texts) != n {
		t.Fatalf("%d keys drawn for %d keys", len(texts), n)
	}
	return apps[i], texts
}

// An app with 500 keys is made in changes that each fit etcd's limits
// (the engine refuses any that does not), with an audit record per key.
func testCreateLargeApp(t *testing.T, e *env) {
	before, batches := readState(t, e.st), e.eng.Batches()
	specs := []store.AppSpec{{Name: "Big", Scopes: scopes.Full(), Keys: append(seq(400, "key %03d"), "KEY 007")}}
	if n, err := e.st.CreateApps(t.Context(), Admin, specs); !errors.Is(err, store.ErrNameTaken) || n != 0 {
		t.Errorf("a large app with a key name twice = %d, %v", n, err)
	}
	e.unchanged(t, "a refused large app", before, batches)

	app, texts := largeApp(t, e, "Big", 500)
	if app.Keys != 500 {
		t.Errorf("the app counts %d keys", app.Keys)
	}
	keys, err := e.st.Keys(t.Context(), app.ID)
	if err != nil || len(keys) != 500 || keys[0].Name != "key 000" || keys[499].Name != "key 499" {
		t.Fatalf("Keys = %d keys, %v", len(keys), err)
	}
	for i, text := range texts {
		if d, _ := e.st.Verify(text, scopes.ModelDeploy); !d.Allowed || d.Key().ID != keys[i].ID {
			t.Fatalf("key %d: %v", i, d)
		}
	}
	events, _ := e.st.Audit(t.Context())
	if len(events) != 501 {
		t.Errorf("%d audit events for an app and 500 keys", len(events))
	}
	if n := e.eng.MaxOpsSeen(); n > MaxOps {
		t.Errorf("a change of %d operations", n)
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

// Deleting an app with 500 keys is one change within etcd's limits, its
// keys stop working at once, and the digest entries and notes of use they
// leave are swept (by the store's maintenance, or when it next opens) in
// changes within the limits too.
func testDeleteLargeApp(t *testing.T, e *env) {
	for _, sweep := range []string{"maintenance", "reopen"} {
		app, texts := largeApp(t, e, "Big "+sweep, 500)
		kept := e.app(t.Context(), "Kept "+sweep, scopes.Full())
		keptText, _ := e.key(t.Context(), kept.ID, "k")
		for _, text := range texts[:200] {
			requireReason(t, e.st, "used", text, scopes.ModelDeploy, store.Allowed)
		}
		e.st.Maintain(t.Context()) // their use is written: notes to sweep too
		batches := e.eng.Batches()
		if err := e.st.DeleteApp(t.Context(), Admin, app.ID); err != nil {
			t.Fatal(err)
		}
		if n := e.eng.Batches() - batches; n != 1 {
			t.Errorf("deleting an app with 500 keys took %d changes", n)
		}
		for i, text := range texts {
			if d, _ := e.st.Verify(text, scopes.ModelDeploy); d.Reason != store.UnknownKey {
				t.Fatalf("key %d of the deleted app: %v", i, d)
			}
		}
		if _, err := e.st.Keys(t.Context(), app.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Keys of the deleted app: %v", err)
		}
		if err := e.st.Check(t.Context()); err != nil {
			t.Errorf("with digest entries still to sweep: %v", err)
		}
		if sweep == "maintenance" {
			if err := e.st.Maintain(t.Context()); err != nil {
				t.Fatal(err)
			}
		} else {
			e.reopen()
		}
		digests, notes := 0, 0
		e.st.Engine().Read(ctx, func(snap store.Snapshot) error {
			snap.Scan(store.TableDigests, nil, store.ScanOptions{}, func(_, _ []byte) error { digests++; return nil })
			return snap.Scan(store.TableUsage, nil, store.ScanOptions{}, func(_, _ []byte) error { notes++; return nil })
		})
		if digests != 1 || notes != 0 {
			t.Errorf("after the %s sweep: %d digest entries and %d notes of use, want only the other app's one entry",
				sweep, digests, notes)
		}
		requireReason(t, e.st, "the other app's key", keptText, scopes.ModelDeploy, store.Allowed)
		if err := e.st.Check(t.Context()); err != nil {
			t.Error(err)
		}
		if err := e.st.DeleteApp(t.Context(), Admin, kept.ID); err != nil {
			t.Fatal(err)
		}
		e.st.Maintain(t.Context())
	}
	if n := e.eng.MaxOpsSeen(); n > MaxOps {
		t.Errorf("a change of %d operations", n)
	}
}
