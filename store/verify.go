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

// Verify decides whether key may use scope, used from client (the zero
// Addr: an unknown address), from the key's app's scopes at this moment.
// An expired key is refused with Expired, and a rolled key whose grace
// period has passed as if it were deleted; a key with an address list is
// refused with AddressNotAllowed from an address outside it, and with
// AddressUnknown from an unknown one. A recognised key's use is noted for
// its "last used" time, in memory (see usage.go).
//
// Verify reads the in-memory index, never the database: it takes no
// context and no lock, allocates nothing, and costs a hash and one read of
// the key's record in a hash table that holds the key and its use
// (keytable.go). A key of the wrong length is refused before it is hashed;
// a key the index holds was issued, so its form and checksum are right by
// construction and are checked (CheckKey) only for a key it does not hold,
// to tell a typo from an unknown key. It cannot fail: every refusal,
// including a store that cannot answer (Reason.Failed), is a Decision.
func (s *Store) Verify(key string, scope scopes.ID, client netip.Addr) Decision {
	var d Decision
	s.decide(&d, key, scope, client, noteAll)
	return d
}

// Lookup decides as Verify does, from an unknown address, without noting a
// use of the key or its scope: for reports and scans, which must not make
// an unused key look used. A key with an address list is AddressUnknown.
func (s *Store) Lookup(key string, scope scopes.ID) Decision {
	var d Decision
	s.decide(&d, key, scope, netip.Addr{}, noteNothing)
	return d
}

// What a decision notes: Verify notes the key's last use and its app's use
// of the scope; Lookup notes nothing; noteKey is Verify as it was before
// per-scope usage, for the benchmark that prices it.
const (
	noteNothing = iota
	noteKey
	noteAll
)

// The rules of a check, in the order they apply. Every check follows them
// through the same three steps, whether it reads the store's index
// (decide, decideDigest) or one snapshot of a database no index was loaded
// for (VerifySnapshot, VerifySnapshotDigest); the paths differ only in how
// they find the key and what they read it from:
//
//  1. admit: an unknown scope is refused (UnknownScope), then a key that
//     is not the length of a key (Malformed), before anything is read.
//  2. The path finds the key and its app. A store that cannot answer says
//     so first: the index's gate (Unavailable, UpgradeRequired), a
//     snapshot's schema (an error). A key not found, or whose app is gone,
//     is refused by unknownReason: BadChecksum or Malformed for a typo,
//     else UnknownKey (a key known by its digest alone: UnknownKey).
//  3. judge: the key found, named in the decision from here on, is
//     refused if its scheduled deletion is due (UnknownKey, unnamed), if
//     it has expired (Expired), if it is used from outside its address
//     list (AddressNotAllowed, or AddressUnknown from no address); else it
//     is Allowed if its app holds the scope, ScopeNotGranted if not. Only
//     these last two are a use of the key.

// admit is the first step of the rules, for a key of keyLen bytes: it
// returns the scope's index, or -1 with d refused.
func admit(d *Decision, keyLen int, scope scopes.ID) int {
	d.Scope = scope
	si := scopes.Index(scope) // one lookup for both questions: is it a scope, is it granted
	if si < 0 {
		d.Reason = UnknownScope
	} else if keyLen != KeyLen {
		d.Reason, si = Malformed, -1
	}
	return si
}

// found is what a check gathered about the key it found, for judge.
type found struct {
	app     *App
	key     *Key
	state   KeyState // at the check's moment
	inList  bool     // the key has no address list, or its list holds the client's address
	granted bool     // the app holds the scope
}

// judge is the last step of the rules: it decides on the key f found,
// used from client, and reports whether the check is a use of the key.
func judge(d *Decision, f *found, client netip.Addr) (use bool) {
	switch f.state {
	case KeyGone:
		d.Reason = UnknownKey
		return false
	case KeyExpired:
		d.Reason, d.app, d.key = Expired, f.app, f.key
		return false
	}
	d.app, d.key = f.app, f.key
	if !f.inList {
		// Where the key was, not what its app needs: no use is noted,
		// and the scope's refusals do not count it.
		d.Reason = AddressNotAllowed
		if !client.IsValid() {
			d.Reason = AddressUnknown
		}
		return false
	}
	if f.granted {
		d.Allowed, d.Reason = true, Allowed
	} else {
		d.Reason = ScopeNotGranted
	}
	return true
}

// decide fills d, the caller's result, in place.
func (s *Store) decide(d *Decision, key string, scope scopes.ID, client netip.Addr, note int) {
	si := admit(d, len(key), scope)
	if si < 0 {
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
func (s *Store) VerifyDigest(digest [sha256.Size]byte, scope scopes.ID, client netip.Addr) Decision {
	return s.byDigest(&digest, scope, client, noteAll)
}

// LookupDigest is Lookup for a key known by its digest alone.
func (s *Store) LookupDigest(digest [sha256.Size]byte, scope scopes.ID) Decision {
	return s.byDigest(&digest, scope, netip.Addr{}, noteNothing)
}

func (s *Store) byDigest(digest *[sha256.Size]byte, scope scopes.ID, client netip.Addr, note int) Decision {
	var d Decision
	// A digest is of a key whose form the caller checked.
	if si := admit(&d, KeyLen, scope); si >= 0 && !s.decideDigest(&d, digest, si, client, note) {
		d.Reason = UnknownKey
	}
	return d
}

// decideDigest is the second and third steps of the rules on the index,
// for the key of a digest and scope index si, and reports false when the
// index holds no such key: the caller says why (a typo, or a key never
// issued).
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
	f := found{app: app, key: r.key, state: KeyActive}
	var now int64
	if !r.deadline { // a key with no expiry and no deletion ahead: active whatever the time
		now = s.clock.coarseNano()
	} else {
		t := s.clock.now()
		f.state, now = r.key.State(t), t.UnixNano()
	}
	f.inList = r.list == listNone || r.allows(r.key, client)
	f.granted = app.Scopes.HasIndex(si)
	if judge(d, &f, client) {
		if note >= noteKey {
			s.ix.note(st, r, digest, now)
		}
		if note == noteAll {
			r.app.use.note(si, d.Allowed, now)
		}
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
