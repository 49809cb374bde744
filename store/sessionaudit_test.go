package store

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRecordSession: session events are made by the system actor, carry
// whose session it was, and keep the trail whole (CheckFile passes).
func TestRecordSession(t *testing.T) {
	s := newTestStore(t)
	login := SessionInfo{User: "Alice", Role: Admin, Remote: "192.0.2.7:50000", Key: "SHA256:abc", Unrecorded: 2}
	if err := s.RecordSession(t.Context(), ActionSessionLogin, login); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSession(t.Context(), ActionSessionRevoked, SessionInfo{User: "Alice", Role: Admin, Reason: "key removed"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSession(t.Context(), ActionAppCreate, login); err == nil {
		t.Fatal("RecordSession wrote an app event")
	}
	events, err := s.Audit(t.Context())
	if err != nil || len(events) != 2 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	ev := events[1]
	if ev.Actor != SystemActor.Name || ev.Role != System || ev.Action != ActionSessionLogin || *ev.Session != login {
		t.Fatalf("login event %+v", ev)
	}
	raw, _ := json.Marshal(ev)
	for _, want := range []string{`"action":"session.login"`, `"session":{"user":"Alice","role":"admin"`, `"logins_not_recorded":2`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON lacks %s: %s", want, raw)
		}
	}
	if events[0].Action != ActionSessionRevoked || events[0].Session.Reason != "key removed" {
		t.Fatalf("revoked event %+v", events[0])
	}
	if err := s.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}
