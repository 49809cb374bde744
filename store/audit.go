package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Action names what an audit event did.
type Action string

const (
	ActionAppCreate Action = "app.create"
	ActionAppUpdate Action = "app.update"
	ActionAppDelete Action = "app.delete"
	ActionKeyCreate Action = "key.create"
	ActionKeyDelete Action = "key.delete"
	ActionKeyRoll   Action = "key.roll" // a new key replaces KeyID, which is deleted at DeleteAt
)

// Event is one audit record: who did what to which app or key, and when. It
// never holds a key's text: a key is named by its name and hint.
type Event struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Role   Role      `json:"role"`
	Origin string    `json:"origin,omitempty"`
	Action Action    `json:"action"`

	AppID    uint64 `json:"app_id"`
	AppName  string `json:"app"`
	KeyID    uint64 `json:"key_id,omitempty"`
	KeyName  string `json:"key,omitempty"`
	KeyHint  string `json:"key_hint,omitempty"`
	KeysGone int    `json:"keys_deleted,omitempty"` // keys deleted along with an app

	ExpiresAt time.Time `json:"expires_at,omitzero"` // a created key's expiry (a roll: the new key's)
	Scheduled bool      `json:"scheduled,omitempty"` // a deletion a roll scheduled, made by the store

	// A roll: the key that replaces KeyID, and when KeyID is deleted.
	NewKeyID   uint64    `json:"new_key_id,omitempty"`
	NewKeyName string    `json:"new_key,omitempty"`
	NewKeyHint string    `json:"new_key_hint,omitempty"`
	DeleteAt   time.Time `json:"delete_at,omitzero"`

	NameBefore   string   `json:"name_before,omitempty"`
	ScopesBefore []string `json:"scopes_before,omitempty"`
	ScopesAfter  []string `json:"scopes_after,omitempty"`

	Session *SessionInfo `json:"session,omitempty"` // session.* events: whose session (see sessionaudit.go)
}

// record appends ev to the audit trail inside the caller's transaction, so
// the change and its record commit or fail together.
func (s *Store) record(tx *bolt.Tx, actor Actor, at time.Time, ev Event) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	tx.OnCommit(s.feed.notify) // every change has exactly one record: tell subscribers once it is durable
	ev.Seq, ev.At = seq, at
	ev.Actor, ev.Role, ev.Origin = actor.Name, actor.Role, actor.Origin
	return put(b, itob(seq), ev)
}

// Audit returns the audit trail, newest first.
func (s *Store) Audit() ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var ev Event
			if err := decode(v, &ev); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}
