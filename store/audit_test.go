package store

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
)

func eventJSON(t *testing.T, ev Event) string {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAuditTrail(t *testing.T) {
	s := newTestStore(t)
	before := scopes.NewSet(scopes.ModelDeploy)
	after := scopes.NewSet(scopes.ModelDeploy, scopes.GuardrailDeploy)
	bo := Actor{Name: "Bo", Role: Admin, Origin: "ssh 10.0.0.7 SHA256:abc"}

	var texts []string
	app := mustCreateApp(t, s, "Risk", before)   // 1
	text, k := mustCreateKey(t, s, app.ID, "ci") // 2
	texts = append(texts, text)
	if _, err := s.UpdateApp(bo, app.ID, "Risk team", after); err != nil { // 3
		t.Fatal(err)
	}
	if _, err := s.UpdateApp(bo, app.ID, "Risk team", after); err != nil { // no-op: no event
		t.Fatal(err)
	}
	if _, err := s.RenameApp(admin, app.ID, "Credit risk"); err != nil { // 4
		t.Fatal(err)
	}
	if _, err := s.SetScopes(admin, app.ID, before); err != nil { // 5
		t.Fatal(err)
	}
	text, _ = mustCreateKey(t, s, app.ID, "cron") // 6
	texts = append(texts, text)
	if err := s.DeleteKey(admin, k.ID); err != nil { // 7
		t.Fatal(err)
	}
	if err := s.DeleteApp(admin, app.ID); err != nil { // 8
		t.Fatal(err)
	}
	// Refused changes leave no trace.
	s.CreateApp(viewer, "x", before)
	s.CreateApp(admin, "x", 0)
	s.CreateApp(admin, "\x1b[2J", before)

	events, err := s.Audit()
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Action: ActionAppCreate, Actor: "Ada", AppName: "Risk", ScopesAfter: before.Strings()},
		{Action: ActionKeyCreate, Actor: "Ada", AppName: "Risk", KeyID: k.ID, KeyName: "ci", KeyHint: k.Hint},
		{Action: ActionAppUpdate, Actor: "Bo", AppName: "Risk team", NameBefore: "Risk",
			ScopesBefore: before.Strings(), ScopesAfter: after.Strings()},
		{Action: ActionAppUpdate, Actor: "Ada", AppName: "Credit risk", NameBefore: "Risk team"},
		{Action: ActionAppUpdate, Actor: "Ada", AppName: "Credit risk",
			ScopesBefore: after.Strings(), ScopesAfter: before.Strings()},
		{Action: ActionKeyCreate, Actor: "Ada", AppName: "Credit risk", KeyID: 2, KeyName: "cron"},
		{Action: ActionKeyDelete, Actor: "Ada", AppName: "Credit risk", KeyID: k.ID, KeyName: "ci", KeyHint: k.Hint},
		{Action: ActionAppDelete, Actor: "Ada", AppName: "Credit risk", KeysGone: 1, ScopesBefore: before.Strings()},
	}
	if len(events) != len(want) {
		for _, ev := range events {
			t.Log(eventJSON(t, ev))
		}
		t.Fatalf("Audit() has %d events, want %d", len(events), len(want))
	}
	// Newest first: reverse to compare in the order the changes were made.
	slices.Reverse(events)
	var lastAt time.Time
	for i, ev := range events {
		w := want[i]
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d has seq %d, want %d", i, ev.Seq, i+1)
		}
		if i > 0 && !ev.At.After(lastAt) {
			t.Errorf("event %d at %v is not after the previous one at %v", ev.Seq, ev.At, lastAt)
		}
		lastAt = ev.At
		if ev.Action != w.Action || ev.Actor != w.Actor || ev.AppID != app.ID || ev.AppName != w.AppName ||
			ev.KeyID != w.KeyID || ev.KeyName != w.KeyName || ev.KeysGone != w.KeysGone || ev.NameBefore != w.NameBefore ||
			!slices.Equal(ev.ScopesBefore, w.ScopesBefore) || !slices.Equal(ev.ScopesAfter, w.ScopesAfter) {
			t.Errorf("event %d = %s\nwant         %s", ev.Seq, eventJSON(t, ev), eventJSON(t, w))
		}
		if w.KeyHint != "" && ev.KeyHint != w.KeyHint {
			t.Errorf("event %d key hint = %q, want %q", ev.Seq, ev.KeyHint, w.KeyHint)
		}
		if ev.Role != Admin {
			t.Errorf("event %d role = %q", ev.Seq, ev.Role)
		}
		wantOrigin := admin.Origin
		if ev.Actor == "Bo" {
			wantOrigin = bo.Origin
		}
		if ev.Origin != wantOrigin {
			t.Errorf("event %d origin = %q, want %q", ev.Seq, ev.Origin, wantOrigin)
		}
		for _, text := range texts {
			if j := eventJSON(t, ev); strings.Contains(j, text) || strings.Contains(j, text[len(KeyPrefix):KeyLen-checksumLen]) {
				t.Errorf("event %d holds a key: %s", ev.Seq, j)
			}
		}
	}
	// The first event's time comes from the injected clock.
	if !events[0].At.Equal(epoch) {
		t.Errorf("first event at %v, want %v", events[0].At, epoch)
	}
}

func TestAuditEmpty(t *testing.T) {
	s := newTestStore(t)
	events, err := s.Audit()
	if err != nil || len(events) != 0 {
		t.Errorf("Audit() of a new store = %v, %v", events, err)
	}
}

func TestAuditDeleteAppWithoutKeys(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.Full())
	if err := s.DeleteApp(admin, app.ID); err != nil {
		t.Fatal(err)
	}
	events, _ := s.Audit()
	if len(events) != 2 || events[0].Action != ActionAppDelete || events[0].KeysGone != 0 {
		t.Fatalf("events = %+v", events)
	}
	if !slices.Equal(events[0].ScopesBefore, scopes.Full().Strings()) {
		t.Errorf("app.delete scopes_before = %v", events[0].ScopesBefore)
	}
}

// The audit JSON field names are what exports and other tools read.
func TestAuditEventJSON(t *testing.T) {
	ev := Event{Seq: 7, At: epoch, Actor: "Ada", Role: Admin, Origin: "local", Action: ActionAppDelete,
		AppID: 3, AppName: "Risk", KeysGone: 2, NameBefore: "Old", ScopesBefore: []string{"model:deploy"},
		ScopesAfter: []string{"model:export"}, KeyID: 4, KeyName: "ci", KeyHint: "aps_…abcd"}
	got := eventJSON(t, ev)
	for _, field := range []string{`"seq":7`, `"at":"2025-03-14T09:26:53Z"`, `"actor":"Ada"`, `"role":"admin"`,
		`"origin":"local"`, `"action":"app.delete"`, `"app_id":3`, `"app":"Risk"`, `"key_id":4`, `"key":"ci"`,
		`"key_hint":"aps_…abcd"`, `"keys_deleted":2`, `"name_before":"Old"`, `"scopes_before":["model:deploy"]`,
		`"scopes_after":["model:export"]`} {
		if !strings.Contains(got, field) {
			t.Errorf("event JSON %s lacks %s", got, field)
		}
	}
}
