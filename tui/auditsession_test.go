package tui

import (
	"strings"
	"testing"

	"apiscopes/store"
)

// TestDescribeSessionEvents: a session event names whose session it was,
// not only the server that recorded it, with nothing raw from the trail.
func TestDescribeSessionEvents(t *testing.T) {
	login := store.Event{Action: store.ActionSessionLogin, Actor: store.SystemActor.Name, Role: store.System,
		Session: &store.SessionInfo{User: "Alice\x1b]0;x\a", Role: store.Admin, Remote: "192.0.2.7:50000", Unrecorded: 3}}
	got := DescribeEvent(login)
	want := EventText{Who: "apiscopes serve (system)", What: "SSH login", Target: clean("Alice\x1b]0;x\a") + " (admin)",
		Change: "from 192.0.2.7:50000 · 3 more logins since the last one recorded"}
	if got != want || strings.ContainsAny(got.Target, "\x1b\a") {
		t.Errorf("login: %+v\nwant %+v", got, want)
	}
	revoked := store.Event{Action: store.ActionSessionRevoked, Actor: store.SystemActor.Name, Role: store.System,
		Session: &store.SessionInfo{User: "Bob", Role: store.Admin, Remote: "192.0.2.8:50001", Reason: "your key is no longer on the allow-list"}}
	if got := DescribeEvent(revoked); got.What != "ended SSH session" || got.Target != "Bob (admin)" ||
		got.Change != "from 192.0.2.8:50001: your key is no longer on the allow-list" {
		t.Errorf("revoked: %+v", got)
	}
}
