package store

import (
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
)

// TestActorIsCleanedOnWrite: an actor's name and origin come from outside
// (an SSH key's comment, a remote address) and may hold terminal controls
// or be very long. Every change still succeeds, and what it writes ("Created
// by", the audit trail, a roll's scheduled deletion) holds only characters
// a name may hold, cut to fit.
func TestActorIsCleanedOnWrite(t *testing.T) {
	s := newTestStore(t)
	mallory := Actor{Name: "  mallory\x1b]52;c;ZXZpbA==\x07\u202e\x9b  ", Role: Admin,
		Origin: "ssh 10.0.0.1\x1b]0;pwned\x07 " + strings.Repeat("x", 500)}
	app, err := s.CreateApp(t.Context(), mallory, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := s.CreateKey(t.Context(), mallory, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.RollKey(t.Context(), mallory, key.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveApp(t.Context(), mallory, app, app.Name, scopes.Full()); err != nil {
		t.Fatal(err)
	}
	apps, err := s.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := apps[0].CreatedBy; got != "mallory?]52;c;ZXZpbA==???" {
		t.Errorf("Created by %q", got)
	}
	var texts []string
	if err := s.EachEvent(t.Context(), func(ev Event) error {
		texts = append(texts, ev.Actor, ev.Origin)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(texts) != 8 {
		t.Fatalf("%d events", len(texts)/2)
	}
	for _, text := range texts {
		if strings.ContainsFunc(text, unsafeRune) || len([]rune(text)) > 2*MaxNameLen {
			t.Errorf("the audit trail holds %q", text)
		}
	}
	keys, err := s.Keys(t.Context(), app.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.ContainsFunc(k.CreatedBy, unsafeRune) {
			t.Errorf("key %s created by %q", k.Name, k.CreatedBy)
		}
	}
	// Only spaces is no name at all.
	if _, err := s.CreateApp(t.Context(), Actor{Name: " \t ", Role: Admin}, "Other", scopes.Full()); err == nil {
		t.Error("an actor without a name wrote")
	}
}
