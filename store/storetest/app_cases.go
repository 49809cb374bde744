package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

var appCases = []testCase{
	{"Create", testCreateApp},
	{"TimesInUTC", testAppTimesInUTC},
	{"ListedByName", testAppsByName},
	{"FirstApps", testFirstApps},
	{"SaveApp", testSaveApp},
	{"SaveWithoutChangeWritesNothing", testSaveNoChange},
	{"NoScopes", testNoScopes},
	{"NotFound", testAppNotFound},
	{"DeleteTakesItsKeys", testDeleteApp},
	{"ReopenKeepsEverything", testReopen},
}

func testCreateApp(t *testing.T, e *env) {
	set := scopes.NewSet(scopes.WorkflowDeploy, scopes.ModelExport)
	at := e.next()
	app := e.app(t.Context(), "Payments", set)
	want := store.App{ID: 1, Name: "Payments", Scopes: set, CreatedBy: "Ada", CreatedAt: at,
		UpdatedBy: "Ada", UpdatedAt: at, Revision: 1}
	if !appsEqual(app, want) {
		t.Errorf("CreateApp = %+v\nwant %+v", app, want)
	}
	got, err := e.st.App(t.Context(), app.ID)
	if err != nil || !appsEqual(got, want) {
		t.Errorf("App(%d) = %+v, %v\nwant %+v", app.ID, got, err, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt is in %v, want UTC", got.CreatedAt.Location())
	}
	at = e.next()
	if second := e.app(t.Context(), "Risk", scopes.Full()); second.ID != 2 || !second.CreatedAt.Equal(at) {
		t.Errorf("second app: id %d at %v, want 2 at %v", second.ID, second.CreatedAt, at)
	}
}

func testAppTimesInUTC(t *testing.T, e *env) {
	zone := time.FixedZone("UTC+5", 5*3600)
	at := time.Date(2025, 1, 2, 15, 4, 5, 0, zone)
	e.reopen(store.WithClock(func() time.Time { return at }))
	app := e.app(t.Context(), "Risk", scopes.Full())
	for _, got := range []store.App{app, must(e.st.App(t.Context(), app.ID))} {
		if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(at) {
			t.Errorf("CreatedAt = %v, want %v in UTC", got.CreatedAt, at.UTC())
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func testAppsByName(t *testing.T, e *env) {
	if apps, err := e.st.Apps(t.Context()); err != nil || len(apps) != 0 {
		t.Errorf("Apps() of a new store = %v, %v", apps, err)
	}
	set := scopes.NewSet(scopes.ModelDeploy)
	for _, n := range []string{"risk", "Zeta", "alpha", "Beta", "Ärger", "beta 2"} {
		e.app(t.Context(), n, set)
	}
	apps, err := e.st.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alpha", "Beta", "beta 2", "risk", "Zeta", "Ärger"}
	if got := names(apps); !slices.Equal(got, want) {
		t.Errorf("Apps() = %q, want %q", got, want)
	}
	if !slices.IsSortedFunc(apps, store.ByName) {
		t.Error("Apps() is not in ByName order")
	}
}

// FirstApps reads the start of the list order, whatever the order of
// creation.
func testFirstApps(t *testing.T, e *env) {
	var specs []store.AppSpec
	for i := range 30 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %02d", 29-i), Scopes: scopes.NewSet(scopes.ModelExport)})
	}
	if _, err := e.st.CreateApps(t.Context(), Admin, specs); err != nil {
		t.Fatal(err)
	}
	all, _ := e.st.Apps(t.Context())
	for _, n := range []int{0, 1, 10, 30, 40, -1} {
		got, err := e.st.FirstApps(t.Context(), n)
		if err != nil {
			t.Fatal(err)
		}
		want := all
		if n >= 0 {
			want = all[:min(n, 30)]
		}
		if !slices.EqualFunc(got, want, appsEqual) {
			t.Errorf("FirstApps(%d) = %q, want %q", n, names(got), names(want))
		}
	}
}

// SaveApp is the one way to change an app: name and scopes together, from
// the app as the editor read it.
func testSaveApp(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	next := scopes.NewSet(scopes.ModelDeploy, scopes.GuardrailDeploy)
	bo := store.Actor{Name: "Bo", Role: store.Admin}

	at := e.next()
	got, err := e.st.SaveApp(t.Context(), bo, app, "  Risk team ", next)
	if err != nil {
		t.Fatal(err)
	}
	want := store.App{ID: app.ID, Name: "Risk team", Scopes: next, CreatedBy: "Ada", CreatedAt: app.CreatedAt,
		UpdatedBy: "Bo", UpdatedAt: at, Revision: 2}
	if !appsEqual(got, want) {
		t.Errorf("SaveApp = %+v\nwant %+v", got, want)
	}
	if stored, _ := e.st.App(t.Context(), app.ID); !appsEqual(stored, want) {
		t.Errorf("App after SaveApp = %+v", stored)
	}
	// A rename alone, then scopes alone.
	got, err = e.st.SaveApp(t.Context(), Admin, got, "Credit risk", got.Scopes)
	if err != nil || got.Name != "Credit risk" || got.Scopes != next || got.Revision != 3 || got.UpdatedBy != "Ada" {
		t.Errorf("rename = %+v, %v", got, err)
	}
	got, err = e.st.SaveApp(t.Context(), Admin, got, got.Name, scopes.Full())
	if err != nil || got.Name != "Credit risk" || got.Scopes != scopes.Full() || got.Revision != 4 {
		t.Errorf("re-scope = %+v, %v", got, err)
	}
}

func testSaveNoChange(t *testing.T, e *env) {
	set := scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)
	app := e.app(t.Context(), "Risk", set)
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, name := range []string{"Risk", " Risk ", "Risk\t"} {
		got, err := e.st.SaveApp(t.Context(), Admin, app, name, set)
		if err != nil || !appsEqual(got, app) {
			t.Errorf("SaveApp(%q, same scopes) = %+v, %v; want the app unchanged", name, got, err)
		}
	}
	e.unchanged(t, "a save that changes nothing", before, batches)
}

func testNoScopes(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	before, batches := readState(t, e.st), e.eng.Batches()
	refused := map[string]func() error{
		"CreateApp with no scopes": func() error { _, err := e.st.CreateApp(t.Context(), Admin, "Other", 0); return err },
		"CreateApp with an unknown scope": func() error {
			_, err := e.st.CreateApp(t.Context(), Admin, "Other", scopes.NewSet("workflow:delete"))
			return err
		},
		"SaveApp with no scopes":          func() error { _, err := e.st.SaveApp(t.Context(), Admin, app, "Risk", 0); return err },
		"SaveApp renaming with no scopes": func() error { _, err := e.st.SaveApp(t.Context(), Admin, app, "Renamed", 0); return err },
		"CreateApps with an app of none": func() error {
			_, err := e.st.CreateApps(t.Context(), Admin, []store.AppSpec{{Name: "Other"}})
			return err
		},
		"CreateApp with bits beyond scopes": func() error { _, err := e.st.CreateApp(t.Context(), Admin, "Other", ^scopes.Full()); return err },
	}
	for what, do := range refused {
		if err := do(); !errors.Is(err, store.ErrNoScopes) {
			t.Errorf("%s: %v, want ErrNoScopes", what, err)
		}
	}
	e.unchanged(t, "refused changes", before, batches)
}

func testAppNotFound(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.Full())
	_, key := e.key(t.Context(), app.ID, "k")
	if err := e.st.DeleteApp(t.Context(), Admin, app.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{app.ID, 0, 99} {
		gone := app
		gone.ID = id
		checks := map[string]error{}
		_, checks["App"] = e.st.App(t.Context(), id)
		_, checks["Keys"] = e.st.Keys(t.Context(), id)
		_, checks["SaveApp"] = e.st.SaveApp(t.Context(), Admin, gone, "x", scopes.Full())
		checks["DeleteApp"] = e.st.DeleteApp(t.Context(), Admin, id)
		_, _, checks["CreateKey"] = e.st.CreateKey(t.Context(), Admin, id, "x")
		for name, err := range checks {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(%d) = %v, want ErrNotFound", name, id, err)
			}
		}
	}
	for _, id := range []uint64{key.ID, 42} {
		if err := e.st.DeleteKey(t.Context(), Admin, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteKey(%d) = %v, want ErrNotFound", id, err)
		}
		if _, _, _, err := e.st.RollKey(t.Context(), Admin, id, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RollKey(%d) = %v, want ErrNotFound", id, err)
		}
	}
}

func testDeleteApp(t *testing.T, e *env) {
	set := scopes.NewSet(scopes.ModelDeploy)
	doomed := e.app(t.Context(), "Doomed", set)
	kept := e.app(t.Context(), "Kept", set)
	var doomedKeys []string
	var doomedIDs []uint64
	for _, n := range []string{"a", "b", "c"} {
		text, k := e.key(t.Context(), doomed.ID, n)
		doomedKeys = append(doomedKeys, text)
		doomedIDs = append(doomedIDs, k.ID)
	}
	keptText, keptKey := e.key(t.Context(), kept.ID, "a")

	if err := e.st.DeleteApp(t.Context(), Admin, doomed.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.App(t.Context(), doomed.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("App after DeleteApp: %v", err)
	}
	if _, err := e.st.Keys(t.Context(), doomed.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Keys of a deleted app: %v, want ErrNotFound", err)
	}
	for i, text := range doomedKeys {
		requireReason(t, e.st, fmt.Sprintf("key %d of the deleted app", i), text, scopes.ModelDeploy, store.UnknownKey)
	}
	for _, id := range doomedIDs {
		if err := e.st.DeleteKey(t.Context(), Admin, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteKey(%d) of a deleted app = %v, want ErrNotFound", id, err)
		}
	}
	keys, err := e.st.Keys(t.Context(), kept.ID)
	if err != nil || len(keys) != 1 || !keysEqual(keys[0], keptKey) {
		t.Errorf("Keys of the other app = %v, %v", keys, err)
	}
	requireReason(t, e.st, "the other app's key", keptText, scopes.ModelDeploy, store.Allowed)
	if app, _ := e.st.App(t.Context(), kept.ID); app.Keys != 1 {
		t.Errorf("the other app has Keys = %d", app.Keys)
	}
	if _, err := e.st.CreateApp(t.Context(), Admin, "doomed", set); err != nil {
		t.Errorf("the name of a deleted app is still taken: %v", err)
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

func testReopen(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, key := e.key(t.Context(), app.ID, "ci")
	app, _ = e.st.App(t.Context(), app.ID)
	before := readState(t, e.st)
	e.reopen()
	if after := readState(t, e.st); !after.equal(before) {
		t.Errorf("after reopening: %+v\nwant %+v", after, before)
	}
	d := requireReason(t, e.st, "after reopening", text, scopes.ModelDeploy, store.Allowed)
	if !appsEqual(d.App(), app) || !keysEqual(d.Key(), key) {
		t.Errorf("after reopening the decision names %+v %+v", d.App(), d.Key())
	}
	// Ids go on from where they were.
	if next := e.app(t.Context(), "Other", scopes.Full()); next.ID != app.ID+1 {
		t.Errorf("after reopening the next app has id %d, want %d", next.ID, app.ID+1)
	}
}

var nameCases = []testCase{
	{"CreateRules", testCreateNameRules},
	{"RenameRules", testRenameRules},
	{"Defaults", testDefaultNames},
}

func testCreateNameRules(t *testing.T, e *env) {
	set := scopes.NewSet(scopes.ModelDeploy)
	if app := e.app(t.Context(), "  Risk  ", set); app.Name != "Risk" {
		t.Errorf("created app name = %q, want trimmed %q", app.Name, "Risk")
	}
	bad := []struct {
		name string
		err  error
	}{
		{"   ", store.ErrNameEmpty},
		{strings.Repeat("x", 65), store.ErrNameTooLong},
		{"\x1b[2J", store.ErrNameInvalid},
		{"RISK", store.ErrNameTaken},
		{" risk ", store.ErrNameTaken},
	}
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, b := range bad {
		_, err := e.st.CreateApp(t.Context(), Admin, b.name, set)
		var ne *store.NameError
		if !errors.Is(err, b.err) || !errors.As(err, &ne) {
			t.Errorf("CreateApp(%q) = %v, want a NameError for %v", b.name, err, b.err)
		}
	}
	e.unchanged(t, "refused names", before, batches)
	if app := e.app(t.Context(), strings.Repeat("é", 64), set); app.Name != strings.Repeat("é", 64) {
		t.Errorf("a 64-character name became %q", app.Name)
	}
}

func testRenameRules(t *testing.T, e *env) {
	set := scopes.NewSet(scopes.ModelDeploy)
	mkt := e.app(t.Context(), "Marketing", set)
	risk := e.app(t.Context(), "Risk", set)
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, name := range []string{"MARKETING", "marketing", " Marketing "} {
		if _, err := e.st.SaveApp(t.Context(), Admin, risk, name, set); !errors.Is(err, store.ErrNameTaken) {
			t.Errorf("SaveApp(risk, %q) = %v, want ErrNameTaken", name, err)
		}
	}
	for _, name := range []string{"", "  ", "a\u202Eb", strings.Repeat("é", 65)} {
		if _, err := e.st.SaveApp(t.Context(), Admin, risk, name, set); err == nil {
			t.Errorf("SaveApp(risk, %q) succeeded", name)
		}
	}
	e.unchanged(t, "refused renames", before, batches)

	// An app may take its own name in another case.
	got, err := e.st.SaveApp(t.Context(), Admin, mkt, "MARKETING", set)
	if err != nil || got.Name != "MARKETING" {
		t.Fatalf("SaveApp(marketing, MARKETING) = %+v, %v", got, err)
	}
	if _, err := e.st.CreateApp(t.Context(), Admin, "marketing", set); !errors.Is(err, store.ErrNameTaken) {
		t.Errorf("after a case-only rename, the name is no longer reserved: %v", err)
	}
	// After a real rename the old name is free and the new one taken.
	if _, err := e.st.SaveApp(t.Context(), Admin, got, "Growth", set); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateApp(t.Context(), Admin, "Marketing", set); err != nil {
		t.Errorf("the old name of a renamed app is still taken: %v", err)
	}
	if _, err := e.st.CreateApp(t.Context(), Admin, "growth", set); !errors.Is(err, store.ErrNameTaken) {
		t.Errorf("the new name of a renamed app is not reserved: %v", err)
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

func testDefaultNames(t *testing.T, e *env) {
	set := scopes.NewSet(scopes.WorkflowDeploy)
	var ids []uint64
	for _, want := range []string{"Untitled app", "Untitled app 2", "Untitled app 3"} {
		next, err := e.st.NextAppName(t.Context())
		if err != nil || next != want {
			t.Errorf("NextAppName() = %q, %v; want %q", next, err, want)
		}
		app := e.app(t.Context(), "", set)
		if app.Name != want {
			t.Errorf("CreateApp(\"\") named the app %q, want %q", app.Name, want)
		}
		ids = append(ids, app.ID)
	}
	if err := e.st.DeleteApp(t.Context(), Admin, ids[0]); err != nil {
		t.Fatal(err)
	}
	if next, _ := e.st.NextAppName(t.Context()); next != store.DefaultAppName {
		t.Errorf("after deleting the first, NextAppName() = %q, want %q", next, store.DefaultAppName)
	}
	if app := e.app(t.Context(), "", set); app.Name != store.DefaultAppName {
		t.Errorf("after deleting the first, CreateApp(\"\") named the app %q", app.Name)
	}
	// A chosen name that matches a default is skipped, whatever its case.
	e.app(t.Context(), "UNTITLED APP 4", set)
	if next, _ := e.st.NextAppName(t.Context()); next != "Untitled app 5" {
		t.Errorf("NextAppName() = %q, want %q", next, "Untitled app 5")
	}
}

var conflictCases = []testCase{
	{"SaveRefusesToOverwrite", testSaveConflict},
	{"WhatOtherChangeWasMade", testConflictWhat},
	{"ChangesSignalsCommitsOnly", testChangesSignals},
}

func testSaveConflict(t *testing.T, e *env) {
	alice := store.Actor{Name: "alice", Role: store.Admin}
	bob := store.Actor{Name: "bob", Role: store.Admin}
	base, err := e.st.CreateApp(t.Context(), alice, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	// Keys made, rolled or deleted meanwhile are not a conflict: keys are
	// not part of the edit.
	_, k, err := e.st.CreateKey(t.Context(), bob, base.ID, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.st.RollKey(t.Context(), bob, k.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	saved, err := e.st.SaveApp(t.Context(), alice, base, "Risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	if err != nil {
		t.Fatalf("save after key changes: %v", err)
	}
	// bob renames and re-scopes; alice's later save from the old base is refused.
	if _, err := e.st.SaveApp(t.Context(), bob, saved, "Risk EU", scopes.NewSet(scopes.WorkflowDeploy)); err != nil {
		t.Fatal(err)
	}
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, try := range []struct {
		name string
		set  scopes.Set
	}{{"Risk (alice)", saved.Scopes}, {"Risk", scopes.Full()}, {saved.Name, saved.Scopes}} {
		_, err = e.st.SaveApp(t.Context(), alice, saved, try.name, try.set)
		var ce *store.ConflictError
		if !errors.Is(err, store.ErrConflict) || !errors.As(err, &ce) {
			t.Fatalf("SaveApp(%q) from a stale base = %v, want a conflict", try.name, err)
		}
		if ce.Current.Name != "Risk EU" || ce.Current.UpdatedBy != "bob" || !appsEqual(ce.Base, saved) {
			t.Errorf("the conflict carries base %+v and current %+v", ce.Base, ce.Current)
		}
		if what := ce.What(); !strings.Contains(what, `bob renamed it to "Risk EU"`) || !strings.Contains(what, "changed its scopes") {
			t.Errorf("What() = %q", what)
		}
		if !strings.Contains(err.Error(), ce.What()) {
			t.Errorf("the error %q does not say what changed", err)
		}
	}
	e.unchanged(t, "refused saves", before, batches)
	// From the current app, the same save goes through.
	cur, _ := e.st.App(t.Context(), base.ID)
	if got, err := e.st.SaveApp(t.Context(), alice, cur, "Risk (alice)", cur.Scopes); err != nil || got.Name != "Risk (alice)" {
		t.Errorf("save from the current app = %+v, %v", got, err)
	}
}

func testConflictWhat(t *testing.T, e *env) {
	base := store.App{ID: 1, Name: "Risk", Scopes: scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)}
	renamed := base
	renamed.Name, renamed.UpdatedBy = "Risk EU", "bob"
	rescoped := base
	rescoped.Scopes, rescoped.UpdatedBy = scopes.NewSet(scopes.ModelDeploy, scopes.GuardrailDeploy), "bob"
	both := rescoped
	both.Name = "Risk EU"
	nobody := renamed
	nobody.UpdatedBy = ""
	for _, tt := range []struct {
		cur  store.App
		want string
	}{
		{renamed, `bob renamed it to "Risk EU"`},
		{rescoped, "bob changed its scopes (+Deploy Guardrails, −Export Model)"},
		{both, `bob renamed it to "Risk EU" and changed its scopes (+Deploy Guardrails, −Export Model)`},
		{nobody, `someone renamed it to "Risk EU"`},
		{store.App{ID: 1, Name: "Risk", Scopes: base.Scopes, UpdatedBy: "bob"}, "bob changed it"},
	} {
		if got := (&store.ConflictError{Base: base, Current: tt.cur}).What(); got != tt.want {
			t.Errorf("What() = %q, want %q", got, tt.want)
		}
	}
}

func testChangesSignals(t *testing.T, e *env) {
	ch, stop := e.st.Changes()
	defer stop()
	if _, err := e.st.CreateApp(t.Context(), Viewer, "x", scopes.NewSet(scopes.ModelDeploy)); err == nil {
		t.Fatal("a viewer wrote")
	}
	if _, err := e.st.CreateApp(t.Context(), Admin, "\x1b[2J", scopes.NewSet(scopes.ModelDeploy)); err == nil {
		t.Fatal("a hostile name was written")
	}
	select {
	case <-ch:
		t.Fatal("a refused change was signalled")
	default:
	}
	if _, err := e.st.CreateApp(t.Context(), Admin, "x", scopes.NewSet(scopes.ModelDeploy)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("a committed change was not signalled")
	}
	stop()
	for range ch { // closed once the signal in flight, if any, is read
	}
}

// Every way there is to write, for the tests of roles and names.
type write struct {
	name string
	do   func(store.Actor) error
}

func writes(ctx context.Context, e *env, app store.App, key store.Key, name string) []write {
	set := scopes.NewSet(scopes.ModelDeploy)
	st := e.st
	return []write{
		{"CreateApp", func(a store.Actor) error { _, err := st.CreateApp(ctx, a, name, set); return err }},
		{"SaveApp", func(a store.Actor) error {
			_, err := st.SaveApp(ctx, a, app, name, scopes.Full())
			return err
		}},
		{"CreateKey", func(a store.Actor) error { _, _, err := st.CreateKey(ctx, a, app.ID, name); return err }},
		{"CreateKeyWith", func(a store.Actor) error {
			_, _, err := st.CreateKeyWith(ctx, a, app.ID, name, store.KeyOptions{ExpiresIn: time.Hour})
			return err
		}},
		{"CreateApps app", func(a store.Actor) error {
			_, err := st.CreateApps(ctx, a, []store.AppSpec{{Name: name, Scopes: set, Keys: []string{"fine"}}})
			return err
		}},
		{"CreateApps key", func(a store.Actor) error {
			_, err := st.CreateApps(ctx, a, []store.AppSpec{{Name: "Fine", Scopes: set, Keys: []string{"fine", name}}})
			return err
		}},
		{"CreateApps large app's key", func(a store.Actor) error {
			_, err := st.CreateApps(ctx, a, []store.AppSpec{{Name: "Fine", Scopes: set, Keys: append(seq(60, "k%d"), name)}})
			return err
		}},
	}
}

var roleCases = []testCase{
	{"OnlyAdminsWrite", testPermission},
}

// The store, not the UI, refuses every change by anyone but an admin, and
// a refusal writes nothing.
func testPermission(t *testing.T, e *env) {
	set := scopes.NewSet(scopes.ModelDeploy)
	app := e.app(t.Context(), "Risk", set)
	_, key := e.key(t.Context(), app.ID, "ci")
	_, other := e.key(t.Context(), app.ID, "cd")
	all := append(writes(t.Context(), e, app, key, "New"),
		write{"CreateApp default name", func(a store.Actor) error { _, err := e.st.CreateApp(t.Context(), a, "", set); return err }},
		write{"DeleteApp", func(a store.Actor) error { return e.st.DeleteApp(t.Context(), a, app.ID) }},
		write{"DeleteKey", func(a store.Actor) error { return e.st.DeleteKey(t.Context(), a, key.ID) }},
		write{"RollKey now", func(a store.Actor) error { _, _, _, err := e.st.RollKey(t.Context(), a, key.ID, 0); return err }},
		write{"RollKey with grace", func(a store.Actor) error {
			_, _, _, err := e.st.RollKey(t.Context(), a, other.ID, time.Hour)
			return err
		}},
	)
	actors := map[string]store.Actor{
		"viewer":     Viewer,
		"no name":    {Role: store.Admin},
		"no role":    {Name: "Nora"},
		"other role": {Name: "Eve", Role: "root"},
		"ADMIN case": {Name: "Eve", Role: "ADMIN"},
	}
	before, batches := readState(t, e.st), e.eng.Batches()
	for an, actor := range actors {
		for _, w := range all {
			if err := w.do(actor); !errors.Is(err, store.ErrPermission) {
				t.Errorf("%s by %s = %v, want ErrPermission", w.name, an, err)
			}
		}
	}
	e.unchanged(t, "refused changes", before, batches)
	// Reading is open to everyone, and an admin may still do each.
	for _, w := range all {
		if err := w.do(Admin); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrNameTaken) {
			t.Errorf("%s by an admin: %v", w.name, err)
		}
	}
}

var auditCases = []testCase{
	{"OneEventPerChange", testAuditTrail},
	{"DeleteAppWithoutKeys", testAuditDeleteWithoutKeys},
	{"EachEventNewestFirst", testEachEvent},
	{"EventJSON", testAuditEventJSON},
}

func eventJSON(t *testing.T, ev store.Event) string {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testAuditTrail(t *testing.T, e *env) {
	if events, err := e.st.Audit(t.Context()); err != nil || len(events) != 0 {
		t.Errorf("Audit() of a new store = %v, %v", events, err)
	}
	before := scopes.NewSet(scopes.ModelDeploy)
	after := scopes.NewSet(scopes.ModelDeploy, scopes.GuardrailDeploy)
	bo := store.Actor{Name: "Bo", Role: store.Admin, Origin: "ssh 10.0.0.7 SHA256:abc"}

	var texts []string
	start := e.next()
	app := e.app(t.Context(), "Risk", before)   // 1
	text, k := e.key(t.Context(), app.ID, "ci") // 2
	texts = append(texts, text)
	app, _ = e.st.App(t.Context(), app.ID)
	app, err := e.st.SaveApp(t.Context(), bo, app, "Risk team", after) // 3
	if err != nil {
		t.Fatal(err)
	}
	if app, err = e.st.SaveApp(t.Context(), bo, app, "Risk team", after); err != nil { // no change: no event
		t.Fatal(err)
	}
	if app, err = e.st.SaveApp(t.Context(), Admin, app, "Credit risk", after); err != nil { // 4
		t.Fatal(err)
	}
	if app, err = e.st.SaveApp(t.Context(), Admin, app, "Credit risk", before); err != nil { // 5
		t.Fatal(err)
	}
	text, k2 := e.key(t.Context(), app.ID, "cron") // 6
	texts = append(texts, text)
	text, rolled, _, err := e.st.RollKey(t.Context(), bo, k2.ID, time.Hour) // 7
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, text)
	if err := e.st.DeleteKey(t.Context(), Admin, k.ID); err != nil { // 8
		t.Fatal(err)
	}
	if err := e.st.DeleteApp(t.Context(), Admin, app.ID); err != nil { // 9
		t.Fatal(err)
	}
	// Refused changes leave no trace.
	e.st.CreateApp(t.Context(), Viewer, "x", before)
	e.st.CreateApp(t.Context(), Admin, "x", 0)
	e.st.CreateApp(t.Context(), Admin, "\x1b[2J", before)
	e.st.DeleteApp(t.Context(), Admin, app.ID)

	events, err := e.st.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Event{
		{Action: store.ActionAppCreate, Actor: "Ada", AppName: "Risk", ScopesAfter: before.Strings()},
		{Action: store.ActionKeyCreate, Actor: "Ada", AppName: "Risk", KeyID: k.ID, KeyName: "ci", KeyHint: k.Hint},
		{Action: store.ActionAppUpdate, Actor: "Bo", AppName: "Risk team", NameBefore: "Risk",
			ScopesBefore: before.Strings(), ScopesAfter: after.Strings()},
		{Action: store.ActionAppUpdate, Actor: "Ada", AppName: "Credit risk", NameBefore: "Risk team"},
		{Action: store.ActionAppUpdate, Actor: "Ada", AppName: "Credit risk",
			ScopesBefore: after.Strings(), ScopesAfter: before.Strings()},
		{Action: store.ActionKeyCreate, Actor: "Ada", AppName: "Credit risk", KeyID: k2.ID, KeyName: "cron", KeyHint: k2.Hint},
		{Action: store.ActionKeyRoll, Actor: "Bo", AppName: "Credit risk", KeyID: k2.ID, KeyName: "cron", KeyHint: k2.Hint,
			NewKeyID: rolled.ID, NewKeyName: "cron (rolled)", NewKeyHint: rolled.Hint},
		{Action: store.ActionKeyDelete, Actor: "Ada", AppName: "Credit risk", KeyID: k.ID, KeyName: "ci", KeyHint: k.Hint},
		{Action: store.ActionAppDelete, Actor: "Ada", AppName: "Credit risk", KeysGone: 2, ScopesBefore: before.Strings()},
	}
	if len(events) != len(want) {
		for _, ev := range events {
			t.Log(eventJSON(t, ev))
		}
		t.Fatalf("Audit() has %d events, want %d", len(events), len(want))
	}
	slices.Reverse(events) // newest first: in the order of the changes now
	for i, ev := range events {
		w := want[i]
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d has seq %d, want %d: the trail must be gapless", i, ev.Seq, i+1)
		}
		if i > 0 && !ev.At.After(events[i-1].At) {
			t.Errorf("event %d at %v is not after the one before at %v", ev.Seq, ev.At, events[i-1].At)
		}
		if ev.Action != w.Action || ev.Actor != w.Actor || ev.AppID != app.ID || ev.AppName != w.AppName ||
			ev.KeyID != w.KeyID || ev.KeyName != w.KeyName || ev.KeyHint != w.KeyHint || ev.KeysGone != w.KeysGone ||
			ev.NameBefore != w.NameBefore || ev.NewKeyID != w.NewKeyID || ev.NewKeyName != w.NewKeyName ||
			ev.NewKeyHint != w.NewKeyHint ||
			!slices.Equal(ev.ScopesBefore, w.ScopesBefore) || !slices.Equal(ev.ScopesAfter, w.ScopesAfter) {
			t.Errorf("event %d = %s\nwant       %s", ev.Seq, eventJSON(t, ev), eventJSON(t, w))
		}
		if ev.Role != store.Admin {
			t.Errorf("event %d role = %q", ev.Seq, ev.Role)
		}
		wantOrigin := Admin.Origin
		if ev.Actor == "Bo" {
			wantOrigin = bo.Origin
		}
		if ev.Origin != wantOrigin {
			t.Errorf("event %d origin = %q, want %q", ev.Seq, ev.Origin, wantOrigin)
		}
		for _, text := range texts {
			if j := eventJSON(t, ev); strings.Contains(j, text) || strings.Contains(j, Secret(text)) {
				t.Errorf("event %d holds a key: %s", ev.Seq, j)
			}
		}
	}
	if !events[0].At.Equal(start) {
		t.Errorf("first event at %v, want %v from the store's clock", events[0].At, start)
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

func testAuditDeleteWithoutKeys(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.Full())
	if err := e.st.DeleteApp(t.Context(), Admin, app.ID); err != nil {
		t.Fatal(err)
	}
	events, _ := e.st.Audit(t.Context())
	if len(events) != 2 || events[0].Action != store.ActionAppDelete || events[0].KeysGone != 0 {
		t.Fatalf("events = %+v", events)
	}
	if !slices.Equal(events[0].ScopesBefore, scopes.Full().Strings()) {
		t.Errorf("app.delete scopes_before = %v", events[0].ScopesBefore)
	}
}

// EachEvent walks newest first and stops on ErrStop without an error.
func testEachEvent(t *testing.T, e *env) {
	for i := range 5 {
		e.app(t.Context(), fmt.Sprintf("App %d", i), scopes.NewSet(scopes.ModelExport))
	}
	var seqs []uint64
	err := e.st.EachEvent(t.Context(), func(ev store.Event) error {
		if len(seqs) == 3 {
			return store.ErrStop
		}
		seqs = append(seqs, ev.Seq)
		return nil
	})
	if err != nil || !slices.Equal(seqs, []uint64{5, 4, 3}) {
		t.Errorf("EachEvent = %v, %v", seqs, err)
	}
	if err := e.st.EachEvent(t.Context(), func(store.Event) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Errorf("EachEvent's own error = %v", err)
	}
}

// The audit JSON field names are what exports and other tools read.
func testAuditEventJSON(t *testing.T, _ *env) {
	ev := store.Event{Seq: 7, At: Epoch, Actor: "Ada", Role: store.Admin, Origin: "local", Action: store.ActionAppDelete,
		AppID: 3, AppName: "Risk", KeysGone: 2, NameBefore: "Old", ScopesBefore: []string{"model:deploy"},
		ScopesAfter: []string{"model:export"}, KeyID: 4, KeyName: "ci", KeyHint: "aps_…abcd", NewKeyID: 5,
		NewKeyName: "ci (rolled)", NewKeyHint: "aps_…wxyz", DeleteAt: Epoch.Add(time.Hour), ExpiresAt: Epoch.Add(2 * time.Hour),
		Scheduled: true}
	got := eventJSON(t, ev)
	for _, field := range []string{`"seq":7`, `"at":"2025-03-14T09:26:53Z"`, `"actor":"Ada"`, `"role":"admin"`,
		`"origin":"local"`, `"action":"app.delete"`, `"app_id":3`, `"app":"Risk"`, `"key_id":4`, `"key":"ci"`,
		`"key_hint":"aps_…abcd"`, `"keys_deleted":2`, `"name_before":"Old"`, `"scopes_before":["model:deploy"]`,
		`"scopes_after":["model:export"]`, `"new_key_id":5`, `"new_key":"ci (rolled)"`, `"new_key_hint":"aps_…wxyz"`,
		`"delete_at":"2025-03-14T10:26:53Z"`, `"expires_at":"2025-03-14T11:26:53Z"`, `"scheduled":true`} {
		if !strings.Contains(got, field) {
			t.Errorf("event JSON %s lacks %s", got, field)
		}
	}
}

var hostileCases = []testCase{
	{"RefusedByEveryWrite", testHostileNames},
}

// A name that would drive a terminal (escape sequences, carriage return,
// C1 controls, direction overrides) is refused by every write that takes a
// name, and the refusal writes nothing, not even an audit event.
func testHostileNames(t *testing.T, e *env) {
	hostile := []string{
		"\x1b]52;c;ZXZpbA==\x07Payroll", // OSC 52: set the clipboard
		"\x1b]0;pwned\x07",              // OSC 0: set the window title
		"\x1b[2J\x1b[HWiped",            // clear the screen
		"\x1b[10;5HMoved\x1b[3A",        // cursor moves
		"Over\rwrite",                   // carriage return
		"C1\u009b2J",                    // C1 CSI, as a character
		"Raw\x9b2J",                     // C1 CSI, as a raw byte
		"invoice\u202Etxt.exe",          // right-to-left override
		"Isolate\u2067RTL",              // right-to-left isolate
		"Nul\x00byte",                   // NUL
		"\uFEFFBom",                     // byte order mark
	}
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	_, key := e.key(t.Context(), app.ID, "k")
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, name := range hostile {
		for _, w := range writes(t.Context(), e, app, key, name) {
			if err := w.do(Admin); !errors.Is(err, store.ErrNameInvalid) {
				t.Errorf("%s(%q) = %v, want ErrNameInvalid", w.name, name, err)
			}
		}
	}
	e.unchanged(t, "refused names", before, batches)
}
