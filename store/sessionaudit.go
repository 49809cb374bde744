package store

import (
	"context"
	"fmt"
)

// Session events: the server records who logged in and whose session it
// ended, so the audit trail shows who could act, not only what they did.
const (
	ActionSessionLogin   Action = "session.login"
	ActionSessionRevoked Action = "session.revoked" // the server ended a session whose key lost its standing
)

// System is the role of the server itself when it records an event; it is
// never given to a person and can make no change.
const System Role = "system"

// SystemActor is who records session events: the server, not the person
// whose session it is.
var SystemActor = Actor{Name: "apiscopes serve", Role: System, Origin: "ssh server"}

// SessionInfo is whose session a session event is about.
type SessionInfo struct {
	User   string `json:"user"`            // the person, from their key's comment
	Role   Role   `json:"role"`            // as they logged in
	Remote string `json:"remote"`          // the client's address
	Key    string `json:"key_fingerprint"` // the key's SHA256 fingerprint
	Reason string `json:"reason,omitempty"`

	// Unrecorded is how many logins of this key since the last recorded one
	// were left out to keep the trail from filling with a script's logins.
	Unrecorded int `json:"logins_not_recorded,omitempty"`
}

// RecordSession appends a session event to the audit trail, by
// SystemActor. It changes nothing else.
func (s *Store) RecordSession(ctx context.Context, action Action, info SessionInfo) error {
	if action != ActionSessionLogin && action != ActionSessionRevoked {
		return fmt.Errorf("RecordSession: %q is not a session event", action)
	}
	return s.commitRule(ctx, SystemActor, func(t *txn) error {
		return t.record(Event{Action: action, Session: &info})
	})
}
