// Package server serves the console to admins over SSH. One process owns the
// database; every session runs the same console as a local run, as the
// person its public key belongs to.
package server

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
)

// ErrNoAllowList is returned when no admins or viewers file names a usable
// key: the server never starts open to everyone.
var ErrNoAllowList = errors.New("no usable allow-list: give --admins and/or --viewers files with at least one public key")

// Person is who a public key belongs to.
type Person struct {
	Name string // the key line's comment
	Role store.Role
}

// Entry is one key of an allow-list: whose it is, the line it is on, and
// what that line's options allow.
type Entry struct {
	Person
	Source string // file:line
	opts   keyOptions
}

// DeniedError is a key the allow-lists do not let in, and why.
type DeniedError struct {
	Reason string // one of the Refused* reasons
	Msg    string // for the user and the log
}

func (e *DeniedError) Error() string { return e.Msg }

// AllowList maps public keys to people, from OpenSSH authorized_keys files:
// one for admins, one for viewers.
//
// A login is checked against the files as they are at that moment, so an
// added or removed key counts from the next login. Open sessions follow
// the list in force, which changes only when two reads at least settle
// apart agree (an editor's rename into place, or `cat new > admins`, is
// never seen half-written), or at once on Reload (SIGHUP). A read that
// fails (a file unreadable, open to others, or with a line that is not a
// key) changes nothing: the last good list stays in force, and the reason
// is reported.
type AllowList struct {
	files  []roleFile
	now    func() time.Time
	loc    *time.Location // expiry-time's local time
	settle time.Duration

	mu      sync.Mutex
	current *parsedList // in force for open sessions
	gen     uint64      // how many lists have been in force
	seen    *parsedList // a read that differs from current, waiting to settle
	seenAt  time.Time
	told    bool // seen's problems have been reported
}

type roleFile struct {
	path string
	role store.Role
}

// NewAllowList reads the files (either may be empty, not both). Unlike a
// reload, it is strict: any line it would skip, a file it cannot use, or no
// usable key at all is an error.
func NewAllowList(admins, viewers string) (*AllowList, error) {
	a := &AllowList{now: time.Now, loc: time.Local, settle: time.Second}
	if admins != "" {
		a.files = append(a.files, roleFile{admins, store.Admin})
	}
	if viewers != "" {
		a.files = append(a.files, roleFile{viewers, store.Viewer})
	}
	if len(a.files) == 0 {
		return nil, ErrNoAllowList
	}
	l := a.read()
	switch {
	case l.err != nil:
		return nil, l.err
	case len(l.skipped) > 0:
		return nil, errors.Join(l.skipped...)
	case len(l.entries) == 0:
		return nil, ErrNoAllowList
	}
	a.current = l
	return a, nil
}

// Login checks a key logging in from remote against the files as they are
// now (or, when they cannot be used, the list in force). It returns the
// key's entry and the generation of the list in force, for Standing.
func (a *AllowList) Login(key gossh.PublicKey, remote net.Addr) (Entry, uint64, error) {
	if key == nil {
		return Entry{}, 0, &DeniedError{RefusedKey, "no public key"}
	}
	fresh := a.read()
	a.mu.Lock()
	l, gen := a.current, a.gen
	a.mu.Unlock()
	if fresh.err == nil {
		l = fresh
	}
	e, ok := l.entries[string(key.Marshal())]
	if !ok {
		return Entry{}, gen, &DeniedError{RefusedKey, "key not on the allow-list"}
	}
	return e, gen, a.admits(e, remote)
}

// Standing is a session's role now: from the list in force, or, while that
// list is still the one of the session's login, from the entry it logged
// in with (a key added moments ago is in the files before it is in force).
// It fails when the key has been removed, has expired, or may no longer be
// used from remote.
func (a *AllowList) Standing(key gossh.PublicKey, remote net.Addr, gen uint64, login Entry) (store.Role, error) {
	a.mu.Lock()
	l, now := a.current, a.gen
	a.mu.Unlock()
	e := login
	if now != gen {
		var ok bool
		if e, ok = l.entries[string(key.Marshal())]; !ok {
			return "", &DeniedError{RefusedKey, "your key is no longer on the allow-list"}
		}
	}
	if err := a.admits(e, remote); err != nil {
		return "", err
	}
	return e.Role, nil
}

// admits checks an entry's from= and expiry-time.
func (a *AllowList) admits(e Entry, remote net.Addr) error {
	if e.opts.from != nil {
		addr, ok := remoteAddr(remote)
		if !ok || !e.opts.from.allows(addr) {
			return &DeniedError{RefusedFrom, "the key's from= option does not allow this address"}
		}
	}
	if !e.opts.expires.IsZero() && a.now().After(e.opts.expires) {
		return &DeniedError{RefusedExpired, fmt.Sprintf("the key expired at %s (its expiry-time)", e.opts.expires.Format(time.RFC3339))}
	}
	return nil
}

func remoteAddr(remote net.Addr) (netip.Addr, bool) {
	if remote == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// Poll reads the files and puts a change in force once two reads at least
// settle apart agree. It reports whether the list in force changed, and,
// once for each new state of the files, what is wrong with them: lines
// skipped, or why the list in force was kept.
func (a *AllowList) Poll() (changed bool, problems []error) {
	fresh := a.read()
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case fresh.sameAs(a.current):
		a.seen = nil
		return false, nil
	case !fresh.sameAs(a.seen):
		a.seen, a.seenAt, a.told = fresh, now, false
		return false, nil
	case now.Sub(a.seenAt) < a.settle || a.told:
		return false, nil
	}
	a.told = true
	if fresh.err != nil {
		return false, []error{fmt.Errorf("keeping the allow-list in force: %w", fresh.err)}
	}
	a.adopt(fresh)
	return true, fresh.problems()
}

// Reload reads the files and puts them in force at once, as SIGHUP asks;
// when they cannot be used, the list in force stays and the error says why.
func (a *AllowList) Reload() (changed bool, problems []error, err error) {
	fresh := a.read()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = nil
	if fresh.err != nil {
		return false, nil, fmt.Errorf("keeping the allow-list in force: %w", fresh.err)
	}
	if fresh.sameAs(a.current) {
		return false, fresh.problems(), nil
	}
	a.adopt(fresh)
	return true, fresh.problems(), nil
}

func (a *AllowList) adopt(l *parsedList) {
	a.current = l
	a.gen++
}

// Problems returns what the log should say about the list in force.
func (a *AllowList) Problems() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current.problems()
}

// Size reports how many keys each role has in the list in force.
func (a *AllowList) Size() (admins, viewers int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.current.entries {
		if e.Role == store.Admin {
			admins++
		} else {
			viewers++
		}
	}
	return admins, viewers
}

// parsedList is one read of the files.
type parsedList struct {
	contents [][]byte
	entries  map[string]Entry // by the key's wire form
	skipped  []error          // lines left out, each naming its file and line
	notes    []error          // lines taken, with a warning
	err      error            // the read as a whole is unusable
}

// problems is what the log should say about a read that is put in force.
func (l *parsedList) problems() []error {
	return append(append([]error(nil), l.skipped...), l.notes...)
}

// sameAs reports whether two reads saw the same files.
func (l *parsedList) sameAs(o *parsedList) bool {
	if o == nil || (l.err == nil) != (o.err == nil) || (l.err != nil && l.err.Error() != o.err.Error()) {
		return false
	}
	for i := range l.contents {
		if !bytes.Equal(l.contents[i], o.contents[i]) {
			return false
		}
	}
	return true
}
