package tui

import (
	"fmt"

	"apiscopes/store"
)

// describeSession puts a session event into words: the server recorded
// that someone logged in over SSH, or that it ended their session. The
// target is the person, the change where from and why.
func describeSession(t EventText, ev store.Event) EventText {
	s := ev.Session
	t.What = "SSH login"
	if ev.Action == store.ActionSessionRevoked {
		t.What = "ended SSH session"
	}
	t.Target = clean(s.User)
	if s.Role != "" {
		t.Target += " (" + clean(string(s.Role)) + ")"
	}
	t.Change = "from " + clean(s.Remote)
	if s.Reason != "" {
		t.Change += ": " + clean(s.Reason)
	}
	if s.Unrecorded > 0 {
		t.Change += fmt.Sprintf(" · %d more logins since the last one recorded", s.Unrecorded)
	}
	return t
}
