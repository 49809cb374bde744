package store

import (
	"errors"
	"fmt"

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
	Expired         Reason = "expired"
)

// Reasons lists every reason, allowed first, for documentation and tests.
var Reasons = []Reason{Allowed, Malformed, BadChecksum, UnknownKey, Expired, ScopeNotGranted, UnknownScope}

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
	case Expired:
		return fmt.Sprintf("denied: key %s of app %q expired on %s", d.Key.Hint, d.App.Name,
			d.Key.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	case UnknownScope:
		return fmt.Sprintf("denied: unknown scope %q", d.Scope)
	case ScopeNotGranted:
		return fmt.Sprintf("denied: app %q does not have scope %s", d.App.Name, d.Scope)
	}
	return "denied: " + string(d.Reason)
}

// Verify decides whether key may use scope, from the key's app's scopes at
// this moment. An expired key is refused with Expired, and a rolled key
// whose grace period has passed as if it were deleted. A recognised key's
// use is noted for its "last used" time, in memory (see usage.go).
//
// Verify reads the in-memory index, never the database: it takes no lock,
// allocates nothing, and costs a hash and a map lookup. A key of the wrong
// length is refused before it is hashed; a key the index holds was issued,
// so its form and checksum are right by construction and are checked
// (CheckKey) only for a key it does not hold, to tell a typo from an
// unknown key. The error is kept for callers that handle failures; every
// refusal is a Decision.
func (s *Store) Verify(key string, scope scopes.ID) (d Decision, err error) {
	d.Scope = scope                  // d is the result itself: the decision is built where the caller reads it
	bit := scopes.Set(0).With(scope) // one lookup for both questions: is it a scope, is it granted
	if bit == 0 {
		d.Reason = UnknownScope
		return d, nil
	}
	if len(key) != KeyLen {
		d.Reason = Malformed
		return d, nil
	}
	digest := keyDigest(key)
	k, found := s.ix.lookup(&digest)
	var app *App
	if found {
		app = k.app.app.Load()
	}
	if app == nil {
		d.Reason = unknownReason(key)
		return d, nil
	}
	var now int64
	if !k.deadline {
		now = s.clock.coarseNano()
	} else {
		t := s.clock.now()
		switch k.key().State(t) {
		case KeyGone:
			d.Reason = UnknownKey
			return d, nil
		case KeyExpired:
			d.Reason, d.App, d.Key = Expired, *app, k.key()
			return d, nil
		}
		now = t.UnixNano()
	}
	d.App, d.Key = *app, k.key()
	if app.Scopes&bit != 0 {
		d.Allowed, d.Reason = true, Allowed
	} else {
		d.Reason = ScopeNotGranted
	}
	noteUse(k.use, now)
	return d, nil
}

// unknownReason tells a typo from a key that was never issued, for a key
// the index does not hold.
func unknownReason(key string) Reason {
	switch err := CheckKey(key); {
	case errors.Is(err, ErrKeyBadChecksum):
		return BadChecksum
	case err != nil:
		return Malformed
	}
	return UnknownKey
}
