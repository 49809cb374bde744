package store

import (
	"errors"
	"testing"
	"time"

	"apiscopes/scopes"
)

func TestCreateApp(t *testing.T) {
	s := newTestStore(t)
	set := scopes.NewSet(scopes.WorkflowDeploy, scopes.ModelExport)
	app := mustCreateApp(t, s, "Payments", set)
	want := App{ID: 1, Name: "Payments", Scopes: set, CreatedBy: "Ada", CreatedAt: epoch,
		UpdatedBy: "Ada", UpdatedAt: epoch, Revision: 1, Keys: 0}
	if !appsEqual(app, want) {
		t.Errorf("CreateApp = %+v\nwant %+v", app, want)
	}
	got, err := s.App(app.ID)
	if err != nil || !appsEqual(got, want) {
		t.Errorf("App(%d) = %+v, %v\nwant %+v", app.ID, got, err, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt is in %v, want UTC", got.CreatedAt.Location())
	}
	second := mustCreateApp(t, s, "Risk", scopes.Full())
	if second.ID != 2 || !second.CreatedAt.Equal(epoch.Add(time.Second)) {
		t.Errorf("second app: id %d at %v", second.ID, second.CreatedAt)
	}
}

func TestCreateAppStoresTimesInUTC(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*3600)
	at := time.Date(2025, 1, 2, 15, 4, 5, 0, zone)
	s := newTestStore(t, WithClock(func() time.Time { return at }))
	app := mustCreateApp(t, s, "Risk", scopes.Full())
	if app.CreatedAt.Location() != time.UTC || !app.CreatedAt.Equal(at) {
		t.Errorf("CreatedAt = %v, want %v in UTC", app.CreatedAt, at.UTC())
	}
}

func TestAppsSortedByName(t *testing.T) {
	s := newTestStore(t)
	set := scopes.NewSet(scopes.ModelDeploy)
	for _, n := range []string{"risk", "Zeta", "alpha", "Beta"} {
		mustCreateApp(t, s, n, set)
	}
	apps, err := s.Apps()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Name)
	}
	want := []string{"alpha", "Beta", "risk", "Zeta"}
	if len(names) != len(want) {
		t.Fatalf("Apps() names = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("Apps() names = %v, want %v", names, want)
		}
	}
}

func TestAppsEmpty(t *testing.T) {
	s := newTestStore(t)
	apps, err := s.Apps()
	if err != nil || len(apps) != 0 {
		t.Errorf("Apps() on a new store = %v, %v", apps, err)
	}
}

func TestUpdateApp(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	next := scopes.NewSet(scopes.ModelDeploy, scopes.GuardrailDeploy)
	editor := Actor{Name: "Bo", Role: Admin}

	got, err := s.UpdateApp(editor, app.ID, "  Risk team ", next)
	if err != nil {
		t.Fatal(err)
	}
	want := App{ID: app.ID, Name: "Risk team", Scopes: next, CreatedBy: "Ada", CreatedAt: app.CreatedAt,
		UpdatedBy: "Bo", UpdatedAt: epoch.Add(time.Second), Revision: 2}
	if !appsEqual(got, want) {
		t.Errorf("UpdateApp = %+v\nwant %+v", got, want)
	}
	if stored, _ := s.App(app.ID); !appsEqual(stored, want) {
		t.Errorf("App after UpdateApp = %+v", stored)
	}

	got, err = s.RenameApp(admin, app.ID, "Credit risk")
	if err != nil || got.Name != "Credit risk" || got.Scopes != next || got.Revision != 3 {
		t.Errorf("RenameApp = %+v, %v", got, err)
	}
	got, err = s.SetScopes(admin, app.ID, scopes.Full())
	if err != nil || got.Name != "Credit risk" || got.Scopes != scopes.Full() || got.Revision != 4 {
		t.Errorf("SetScopes = %+v, %v", got, err)
	}
}

func TestUpdateNoChangeWritesNothing(t *testing.T) {
	s := newTestStore(t)
	set := scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)
	app := mustCreateApp(t, s, "Risk", set)
	before := takeSnapshot(t, s)

	changes := map[string]func() (App, error){
		"UpdateApp same":        func() (App, error) { return s.UpdateApp(admin, app.ID, "Risk", set) },
		"UpdateApp padded name": func() (App, error) { return s.UpdateApp(admin, app.ID, " Risk ", set) },
		"RenameApp same":        func() (App, error) { return s.RenameApp(admin, app.ID, "Risk") },
		"SetScopes same":        func() (App, error) { return s.SetScopes(admin, app.ID, set) },
	}
	for name, change := range changes {
		got, err := change()
		if err != nil || !appsEqual(got, app) {
			t.Errorf("%s = %+v, %v; want the app unchanged", name, got, err)
		}
	}
	if !before.equal(takeSnapshot(t, s)) {
		t.Error("an update that changes nothing wrote to the store")
	}
}

func TestNoScopes(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	before := takeSnapshot(t, s)
	if _, err := s.CreateApp(admin, "Other", 0); !errors.Is(err, ErrNoScopes) {
		t.Errorf("CreateApp with no scopes: %v", err)
	}
	if _, err := s.CreateApp(admin, "Other", scopes.NewSet("workflow:delete")); !errors.Is(err, ErrNoScopes) {
		t.Errorf("CreateApp with only an unknown scope: %v", err)
	}
	if _, err := s.UpdateApp(admin, app.ID, "Risk", 0); !errors.Is(err, ErrNoScopes) {
		t.Errorf("UpdateApp with no scopes: %v", err)
	}
	if _, err := s.UpdateApp(admin, app.ID, "Renamed", 0); !errors.Is(err, ErrNoScopes) {
		t.Errorf("UpdateApp with a new name and no scopes: %v", err)
	}
	if _, err := s.SetScopes(admin, app.ID, 0); !errors.Is(err, ErrNoScopes) {
		t.Errorf("SetScopes with no scopes: %v", err)
	}
	if !before.equal(takeSnapshot(t, s)) {
		t.Error("a refused change wrote to the store")
	}
}

func TestAppNotFound(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.Full())
	if err := s.DeleteApp(admin, app.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{app.ID, 0, 99} {
		checks := map[string]error{}
		_, checks["App"] = s.App(id)
		_, checks["Keys"] = s.Keys(id)
		_, checks["UpdateApp"] = s.UpdateApp(admin, id, "x", scopes.Full())
		_, checks["RenameApp"] = s.RenameApp(admin, id, "x")
		_, checks["SetScopes"] = s.SetScopes(admin, id, scopes.Full())
		checks["DeleteApp"] = s.DeleteApp(admin, id)
		_, _, checks["CreateKey"] = s.CreateKey(admin, id, "x")
		for name, err := range checks {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s(%d) = %v, want ErrNotFound", name, id, err)
			}
		}
	}
	if err := s.DeleteKey(admin, 42); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteKey(42) = %v, want ErrNotFound", err)
	}
}

// The store, not the UI, refuses changes by anyone but an admin.
func TestPermission(t *testing.T) {
	s := newTestStore(t)
	set := scopes.NewSet(scopes.ModelDeploy)
	app := mustCreateApp(t, s, "Risk", set)
	_, key := mustCreateKey(t, s, app.ID, "ci")

	mutations := []struct {
		name string
		do   func(Actor) error
	}{
		{"CreateApp", func(a Actor) error { _, err := s.CreateApp(a, "New", set); return err }},
		{"CreateApp default name", func(a Actor) error { _, err := s.CreateApp(a, "", set); return err }},
		{"UpdateApp", func(a Actor) error { _, err := s.UpdateApp(a, app.ID, "Renamed", scopes.Full()); return err }},
		{"RenameApp", func(a Actor) error { _, err := s.RenameApp(a, app.ID, "Renamed"); return err }},
		{"SetScopes", func(a Actor) error { _, err := s.SetScopes(a, app.ID, scopes.Full()); return err }},
		{"DeleteApp", func(a Actor) error { return s.DeleteApp(a, app.ID) }},
		{"CreateKey", func(a Actor) error { _, _, err := s.CreateKey(a, app.ID, "other"); return err }},
		{"DeleteKey", func(a Actor) error { return s.DeleteKey(a, key.ID) }},
	}
	actors := map[string]Actor{
		"viewer":     viewer,
		"no name":    noName,
		"no role":    noRole,
		"other role": {Name: "Eve", Role: "root"},
		"ADMIN case": {Name: "Eve", Role: "ADMIN"},
	}
	before := takeSnapshot(t, s)
	for an, actor := range actors {
		for _, m := range mutations {
			t.Run(an+"/"+m.name, func(t *testing.T) {
				err := m.do(actor)
				if !errors.Is(err, ErrPermission) {
					t.Errorf("err = %v, want ErrPermission", err)
				}
				if !before.equal(takeSnapshot(t, s)) {
					t.Error("a refused change wrote to the store")
				}
			})
		}
	}
	// Reading is open to everyone: nothing to refuse, so simply check it works.
	if _, err := s.Apps(); err != nil {
		t.Error(err)
	}
}

func TestDeleteApp(t *testing.T) {
	s := newTestStore(t)
	set := scopes.NewSet(scopes.ModelDeploy)
	doomed := mustCreateApp(t, s, "Doomed", set)
	kept := mustCreateApp(t, s, "Kept", set)
	var doomedKeys []string
	for _, n := range []string{"a", "b", "c"} {
		text, _ := mustCreateKey(t, s, doomed.ID, n)
		doomedKeys = append(doomedKeys, text)
	}
	keptText, keptKey := mustCreateKey(t, s, kept.ID, "a")

	if err := s.DeleteApp(admin, doomed.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.App(doomed.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("App after DeleteApp: %v", err)
	}
	if _, err := s.Keys(doomed.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Keys of a deleted app: %v, want ErrNotFound", err)
	}
	for i, text := range doomedKeys {
		d, err := s.Verify(text, scopes.ModelDeploy)
		if err != nil || d.Allowed || d.Reason != UnknownKey {
			t.Errorf("key %d of a deleted app: Verify = %v, %v; want unknown_key", i, d, err)
		}
	}
	// Key ids of the deleted app are gone too.
	for id := uint64(1); id <= 3; id++ {
		if err := s.DeleteKey(admin, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteKey(%d) of a deleted app = %v, want ErrNotFound", id, err)
		}
	}

	// The other app and its key are untouched.
	keys, err := s.Keys(kept.ID)
	if err != nil || len(keys) != 1 || keys[0] != keptKey {
		t.Errorf("Keys of the other app = %v, %v", keys, err)
	}
	if d, _ := s.Verify(keptText, scopes.ModelDeploy); !d.Allowed {
		t.Errorf("the other app's key: %v", d)
	}
	if app, _ := s.App(kept.ID); app.Keys != 1 {
		t.Errorf("the other app has Keys = %d", app.Keys)
	}
	// The name is free again.
	if _, err := s.CreateApp(admin, "doomed", set); err != nil {
		t.Errorf("the name of a deleted app is still taken: %v", err)
	}
}
