package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
)

// Reason says why a key was allowed or refused a scope. The values are
// stable: scripts and services match on them.
type Reason string

const (
	Allowed         Reason = "allowed"
	Malformed       Reason = "malformed"
	BadChecksum     Reason = "bad_checksum"
	UnknownKey      Reason = "unknown_key"
	UnknownScope    Reason = "unknown_scope"
	ScopeNotGranted Reason = "scope_not_granted"
)

// Decision is the answer to "may this key use this scope?".
type Decision struct {
	Allowed bool
	Reason  Reason
	Scope   scopes.ID
	App     App // set when the key was found
	Key     Key // set when the key was found
}

// String is a one-line explanation, safe to log: it never holds the key.
func (d Decision) String() string {
	switch d.Reason {
	case Allowed:
		return fmt.Sprintf("allowed: key %s of app %q may use %s", d.Key.Hint, d.App.Name, d.Scope)
	case Malformed:
		return "denied: the API key is malformed (expected aps_ and 49 letters or digits)"
	case BadChecksum:
		return "denied: the API key has a bad checksum (mistyped or truncated)"
	case UnknownKey:
		return "denied: the API key is unknown (never issued, or deleted)"
	case UnknownScope:
		return fmt.Sprintf("denied: unknown scope %q", d.Scope)
	case ScopeNotGranted:
		return fmt.Sprintf("denied: app %q does not have scope %s", d.App.Name, d.Scope)
	}
	return "denied: " + string(d.Reason)
}

// Verify decides whether key may use scope, from the key's app's scopes at
// this moment. A malformed key or a bad checksum is refused before any read.
// The error is for a failing database only; every refusal is a Decision.
func (s *Store) Verify(key string, scope scopes.ID) (Decision, error) {
	d := Decision{Scope: scope}
	if _, ok := scopes.Lookup(scope); !ok {
		d.Reason = UnknownScope
		return d, nil
	}
	switch err := CheckKey(key); {
	case errors.Is(err, ErrKeyBadChecksum):
		d.Reason = BadChecksum
		return d, nil
	case err != nil:
		d.Reason = Malformed
		return d, nil
	}
	digest := keyDigest(key)
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketDigests).Get(digest[:])
		if id == nil {
			d.Reason = UnknownKey
			return nil
		}
		krec, err := getKey(tx, btoi(id))
		if err != nil {
			return err
		}
		arec, err := getApp(tx, krec.AppID)
		if err != nil {
			return err
		}
		d.Key = krec.key()
		if d.App, err = arec.app(); err != nil {
			return err
		}
		if d.App.Scopes.Allows(scope) {
			d.Allowed, d.Reason = true, Allowed
		} else {
			d.Reason = ScopeNotGranted
		}
		return nil
	})
	if err != nil {
		return Decision{Scope: scope, Reason: UnknownKey}, fmt.Errorf("verify: %w", err)
	}
	return d, nil
}
