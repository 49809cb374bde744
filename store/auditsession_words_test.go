package store

import (
	"strings"
	"testing"
)

// TestDescribeSessionEvents: a session event names whose session it was,
// not only the server that recorded it, with nothing raw from the trail.
func TestDescribeSessionEvents(t *testing.T) {
	login := Event{Action: ActionSessionLogin, Actor: SystemActor.Name, Role: System,
		Session: &SessionInfo{User: "Alice\x1b]0;x\a", Role: Admin, Remote: "192.0.2.7:50000", Unrecorded: 3}}
	got := login.Describe()
	want := EventText{Who: "apiscopes serve (system)", What: "SSH login", Target: Sanitize("Alice\x1b]0;x\a") + " (admin)",
		Change: "from 192.0.2.7:50000 · 3 more logins since the last one recorded"}
	if got != want || strings.ContainsAny(got.Target, "\x1b\a") {
		t.Errorf("login: %+v\nwant %+v", got, want)
	}
	revoked := Event{Action: ActionSessionRevoked, Actor: SystemActor.Name, Role: System,
		Session: &SessionInfo{User: "Bob", Role: Admin, Remote: "192.0.2.8:50001", Reason: "your key is no longer on the allow-list"}}
	if got := revoked.Describe(); got.What != "ended SSH session" || got.Target != "Bob (admin)" ||
		got.Change != "from 192.0.2.8:50001: your key is no longer on the allow-list" {
		t.Errorf("revoked: %+v", got)
	}
}
