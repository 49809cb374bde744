package store

import (
	"context"
	"errors"
	"time"
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
	// ActionKeyUndelivered is a key deleted right after it was made because
	// its text never reached the one who asked for it (see DiscardKey).
	ActionKeyUndelivered Action = "key.undelivered"

	// The key policy and four eyes (policy.go, approvals.go).
	ActionPolicyUpdate    Action = "policy.update"    // the policy tightened, at once
	ActionApprovalRequest Action = "approval.request" // a grant or a relaxed policy waits for another admin
	ActionApprovalApprove Action = "approval.approve" // another admin approved it: it is in force
	ActionApprovalReject  Action = "approval.reject"  // an admin closed it unapproved
	ActionApprovalExpire  Action = "approval.expire"  // its window passed, or it was replaced
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

	// A key's address list (key.create, key.roll: the new key's, the same).
	AllowFrom []string `json:"allow_from,omitempty"`

	// The key policy and approvals: the request's number, the scopes a
	// grant adds, who asked (name and SSH key) when another acts on it, the
	// policy before and after, and a note on why the store closed one.
	Approval     uint64      `json:"approval,omitempty"`
	Grant        []string    `json:"grant,omitempty"`
	RequestedBy  string      `json:"requested_by,omitempty"`
	RequestedKey string      `json:"requested_key,omitempty"`
	PolicyBefore *PolicyInfo `json:"policy_before,omitempty"`
	PolicyAfter  *PolicyInfo `json:"policy_after,omitempty"`
	Note         string      `json:"note,omitempty"`

	// State is the digest of the state hash of every app and key record
	// once the change was made (statehash.go), in hex; Records says, for
	// each record the change wrote, its place and the SHA-256 digests of
	// the record now and before, "-" for none ("key 3/17 NOW -" for a new
	// key): the state hash's changes (statekeep.go). Events written before
	// schema 3 have neither.
	State   string   `json:"state,omitempty"`
	Records []string `json:"records,omitempty"`

	// Hash chains the trail: SHA-256 of the previous event's hash and this
	// event's canonical encoding (see chain.go), in hex.
	Hash string `json:"hash,omitempty"`
}

// Audit returns the audit trail, newest first.
func (s *Store) Audit(ctx context.Context) ([]Event, error) {
	var out []Event
	err := s.EachEvent(ctx, func(ev Event) error {
		out = append(out, ev)
		return nil
	})
	return out, err
}

// ErrStop ends EachEvent (or a Snapshot.Scan) early without an error.
var ErrStop = errors.New("stop")

// EachEvent calls fn for every audit event, newest first, decoding one at a
// time: printing or exporting a long trail needs no memory for all of it.
// fn returning ErrStop ends the walk with a nil error; any other error ends
// it with that error. fn runs inside a snapshot: it must not call back into
// the store to write.
func (s *Store) EachEvent(ctx context.Context, fn func(Event) error) error {
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		return snap.Scan(TableAudit, nil, ScanOptions{Reverse: true}, func(_, v []byte) error {
			var ev Event
			if err := decode(v, &ev); err != nil {
				return err
			}
			return fn(ev)
		})
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// ReadEvents calls fn with the audit events of eng's database from
// sequence number from on, oldest first, and returns the sequence number
// after the last one read (from, if none): where the next read starts.
// It needs no Store, so a command following the trail of a file no process
// holds opens it only for a moment at a time. fn returning ErrStop ends
// the read early.
func ReadEvents(ctx context.Context, eng Engine, from uint64, fn func(Event) error) (next uint64, err error) {
	next = max(from, 1)
	err = eng.Read(ctx, func(snap Snapshot) error {
		return snap.Scan(TableAudit, nil, ScanOptions{From: itob(next)}, func(_, v []byte) error {
			var ev Event
			if err := decode(v, &ev); err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
			next = ev.Seq + 1
			return nil
		})
	})
	if errors.Is(err, ErrStop) {
		err = nil
	}
	return next, err
}

// AuditHeadOf is the sequence number of the newest event of eng's
// database, 0 for none.
func AuditHeadOf(ctx context.Context, eng Engine) (uint64, error) {
	var seq uint64
	err := eng.Read(ctx, func(snap Snapshot) error {
		return snap.Scan(TableAudit, nil, ScanOptions{Reverse: true}, func(k, _ []byte) error {
			seq = btoi(k)
			return ErrStop
		})
	})
	if errors.Is(err, ErrStop) {
		err = nil
	}
	return seq, err
}
