package store

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"

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
	Unavailable     Reason = "unavailable" // this replica cannot confirm it is current: it fails closed
	ScopeNotGranted Reason = "scope_not_granted"
	Expired         Reason = "expired"
	// AddressNotAllowed is a key with an address list checked from an
	// address outside it; AddressUnknown one checked with no address at
	// all (allowfrom.go). Neither counts as a use of the key or a denial of
	// the scope: they say where the key was, not what its app needs.
	AddressNotAllowed Reason = "address_not_allowed"
	AddressUnknown    Reason = "address_unknown"
	// UpgradeRequired is every check of a store whose database was moved
	// to a schema past this build's: it no longer understands every record,
	// so it fails closed until it is upgraded (schemagate.go).
	UpgradeRequired Reason = "upgrade_required"
	// Damaged is every check of a store whose check at open (done after
	// the index loaded, opencheck.go) found its database damaged: it
	// fails closed, and writes nothing, until the file is restored.
	Damaged Reason = "damaged"
)

// Reasons lists every reason, allowed first, for documentation and tests.
var Reasons = []Reason{Allowed, Malformed, BadChecksum, UnknownKey, Expired, ScopeNotGranted, UnknownScope, Unavailable,
	AddressNotAllowed, AddressUnknown, UpgradeRequired, Damaged}

// Failed reports whether a reason says the store could not decide (it
// cannot confirm its copy is current, its database moved past its
// schema, or was found damaged): HTTP 503, gRPC UNAVAILABLE, exit status 2.
func (r Reason) Failed() bool { return r == Unavailable || r == UpgradeRequired || r == Damaged }

// Decision is the answer to "may this key use this scope?". When the key
// was found it names the key and its app (Found, App, Key): it shares them
// with the store's index, which never changes them, so a check copies
// neither; App and Key hand out copies.
type Decision struct {
	Allowed bool
	Reason  Reason
	Scope   scopes.ID
	app     *App
	key     *Key
}

// Found reports whether the key was found: then App and Key name it.
func (d Decision) Found() bool { return d.key != nil }

// App is the found key's app, or the zero App.
func (d Decision) App() App {
	if d.app == nil {
		return App{}
	}
	a := *d.app
	a.Retired = slices.Clone(a.Retired)
	return a
}

// Key is the found key, or the zero Key. Its LastUsedAt is zero: a key's
// use is the store's to report (Keys).
func (d Decision) Key() Key {
	if d.key == nil {
		return Key{}
	}
	return *d.key
}

// naming is d naming app and key, as a lookup that read them answers.
func (d Decision) naming(app App, key Key) Decision {
	d.app, d.key = &app, &key
	return d
}

// decisionJSON is a Decision as JSON: every field, as a struct of its
// exported fields would be.
type decisionJSON struct {
	Allowed bool
	Reason  Reason
	Scope   scopes.ID
	App     App
	Key     Key
}

func (d Decision) MarshalJSON() ([]byte, error) {
	return json.Marshal(decisionJSON{Allowed: d.Allowed, Reason: d.Reason, Scope: d.Scope, App: d.App(), Key: d.Key()})
}

func (d *Decision) UnmarshalJSON(b []byte) error {
	var j decisionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = Decision{Allowed: j.Allowed, Reason: j.Reason, Scope: j.Scope}
	if j.Key.ID != 0 { // key ids start at 1
		*d = d.naming(j.App, j.Key)
	}
	return nil
}

// String is a one-line explanation, safe to log: it never holds the key.
func (d Decision) String() string {
	app, key := d.App(), d.Key()
	switch d.Reason {
	case Allowed:
		return fmt.Sprintf("allowed: key %s of app %q may use %s", key.Hint, app.Name, d.Scope)
	case Malformed:
		return "denied: the API key is malformed (expected aps_ and 49 letters or digits)"
	case BadChecksum:
		return "denied: the API key has a bad checksum (mistyped or truncated)"
	case UnknownKey:
		return "denied: the API key is unknown (never issued, or deleted)"
	case Expired:
		return fmt.Sprintf("denied: key %s of app %q expired on %s", key.Hint, app.Name,
			key.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	case UnknownScope:
		return fmt.Sprintf("denied: unknown scope %q", d.Scope)
	case ScopeNotGranted:
		return fmt.Sprintf("denied: app %q does not have scope %s", app.Name, d.Scope)
	case Unavailable:
		return "denied: this server cannot confirm its copy of the keys is current (the cluster is out of reach); try again or ask another replica"
	case AddressNotAllowed:
		return fmt.Sprintf("denied: key %s of app %q may be used only from the addresses its list allows", key.Hint, app.Name)
	case AddressUnknown:
		return fmt.Sprintf("denied: key %s of app %q may be used only from the addresses its list allows, and the check "+
			"named no address (send the client's address)", key.Hint, app.Name)
	case UpgradeRequired:
		return "denied: the database was upgraded to a newer schema than this server knows; it answers no check " +
			"until it is upgraded: ask an upgraded replica"
	case Damaged:
		return "denied: the database was found damaged; this server answers no check until it is restored from a backup"
	}
	return "denied: " + string(d.Reason)
}

// Verify decides whether key may use scope, from the key's app's scopes at
// this moment. An expired key is refused with Expired, and a rolled key
// whose grace period has passed as if it were deleted. A recognised key's
// use is noted for its "last used" time, in memory (see usage.go).
//
// Verify reads the in-memory index, never the database: it takes no lock,
// allocates nothing, and costs a hash and one read of the key's record in
// a hash table that holds the key and its use (keytable.go). A key of the
// wrong length is refused before it is hashed; a key the index holds was
// issued, so its form and checksum are right by construction and are
// checked (CheckKey) only for a key it does not hold, to tell a typo from
// an unknown key. The error is kept for callers that handle failures;
// every refusal is a Decision.
//
// A check that names no address (Verify) is one from an unknown address: a
// key with an address list is refused with AddressUnknown. VerifyFrom
// names the client's.
func (s *Store) Verify(key string, scope scopes.ID) (d Decision, err error) {
	s.decide(&d, key, scope, netip.Addr{}, noteAll)
	return d, nil
}

// VerifyFrom is Verify for a check from client, the address the key is
// used from (the zero Addr: unknown). A key with an address list that does
// not hold it is refused with AddressNotAllowed.
func (s *Store) VerifyFrom(key string, scope scopes.ID, client netip.Addr) Decision {
	var d Decision
	s.decide(&d, key, scope, client, noteAll)
	return d
}

// Lookup decides as Verify does without noting a use of the key or its
// scope: for reports and scans, which must not make an unused key look
// used. It names no address: a key with a list is AddressUnknown.
func (s *Store) Lookup(key string, scope scopes.ID) (Decision, error) {
	var d Decision
	s.decide(&d, key, scope, netip.Addr{}, noteNothing)
	return d, nil
}

// What a decision notes: Verify notes the key's last use and its app's use
// of the scope; Lookup notes nothing; noteKey is Verify as it was before
// per-scope usage, for the benchmark that prices it.
const (
	noteNothing = iota
	noteKey
	noteAll
)

// decide fills d, the caller's result, in place.
func (s *Store) decide(d *Decision, key string, scope scopes.ID, client netip.Addr, note int) {
	d.Scope = scope
	si := scopes.Index(scope) // one lookup for both questions: is it a scope, is it granted
	if si < 0 {
		d.Reason = UnknownScope
		return
	}
	if len(key) != KeyLen {
		d.Reason = Malformed
		return
	}
	digest := keyDigest(key)
	if !s.decideDigest(d, &digest, si, client, note) {
		d.Reason = unknownReason(key)
	}
}

// VerifyDigest is Verify for a key known by its digest alone (KeyDigest),
// whose form and checksum the caller has checked: the process holding a
// file answers commands this way, so no key's text crosses its socket.
func (s *Store) VerifyDigest(digest [sha256.Size]byte, scope scopes.ID) Decision {
	return s.byDigest(&digest, scope, netip.Addr{}, noteAll)
}

// VerifyDigestFrom is VerifyDigest for a check from client (see VerifyFrom).
func (s *Store) VerifyDigestFrom(digest [sha256.Size]byte, scope scopes.ID, client netip.Addr) Decision {
	return s.byDigest(&digest, scope, client, noteAll)
}

// LookupDigest is Lookup for a key known by its digest alone.
func (s *Store) LookupDigest(digest [sha256.Size]byte, scope scopes.ID) Decision {
	return s.byDigest(&digest, scope, netip.Addr{}, noteNothing)
}

func (s *Store) byDigest(digest *[sha256.Size]byte, scope scopes.ID, client netip.Addr, note int) Decision {
	d := Decision{Scope: scope}
	si := scopes.Index(scope)
	if si < 0 {
		d.Reason = UnknownScope
	} else if !s.decideDigest(&d, digest, si, client, note) {
		d.Reason = UnknownKey
	}
	return d
}

// decideDigest decides on the key of a digest and scope index si, from the
// index, and reports false when the index holds no such key: the caller
// says why (a typo, or a key never issued).
func (s *Store) decideDigest(d *Decision, digest *[sha256.Size]byte, si int, client netip.Addr, note int) bool {
	if g := s.gate.shut.Load(); g != 0 {
		d.Reason = s.gate.reason(g)
		return true
	}
	st := s.ix.cur.Load()
	r := st.lookup(digest)
	var app *App
	if r != nil {
		app = r.app.app.Load()
	}
	if app == nil {
		return false
	}
	var now int64
	if !r.deadline {
		now = s.clock.coarseNano()
	} else {
		t := s.clock.now()
		switch r.key.State(t) {
		case KeyGone:
			d.Reason = UnknownKey
			return true
		case KeyExpired:
			d.Reason, d.app, d.key = Expired, app, r.key
			return true
		}
		now = t.UnixNano()
	}
	d.app, d.key = app, r.key
	if r.list != listNone && !r.allows(r.key, client) {
		// Where the key was, not what its app needs: no use is noted,
		// and the scope's refusals do not count it.
		d.Reason = AddressNotAllowed
		if !client.IsValid() {
			d.Reason = AddressUnknown
		}
		return true
	}
	if app.Scopes.HasIndex(si) {
		d.Allowed, d.Reason = true, Allowed
	} else {
		d.Reason = ScopeNotGranted
	}
	if note >= noteKey {
		s.ix.note(st, r, digest, now)
	}
	if note == noteAll {
		r.app.use.note(si, d.Allowed, now)
	}
	return true
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
