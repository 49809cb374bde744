// Package server serves the console to admins over SSH. One process owns the
// database; every session runs the same console as a local run, as the
// person its public key belongs to.
package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
)

// ErrNoAllowList is returned when no admins or viewers file names a usable
// key: the server never starts open to everyone.
var ErrNoAllowList = errors.New("no usable allow-list: give --admins and/or --viewers files with at least one public key")

// Person is who a public key belongs to.
type Person struct {
	Name string // the key line's comment, else the SSH user name
	Role store.Role
}

// AllowList maps public keys to people, from OpenSSH authorized_keys files:
// one for admins, one for viewers. Files are read again whenever they
// change on disk, so edits take effect without a restart.
type AllowList struct {
	files []roleFile

	mu       sync.Mutex
	entries  map[string]Person // by the key's wire form
	contents [][]byte          // the files as last parsed
	readOK   bool
	errs     []error // problems found by the last read, for the log
}

type roleFile struct {
	path string
	role store.Role
}

// NewAllowList reads the files (either may be empty, not both) and fails if
// together they hold no usable key.
func NewAllowList(admins, viewers string) (*AllowList, error) {
	a := &AllowList{}
	if admins != "" {
		a.files = append(a.files, roleFile{admins, store.Admin})
	}
	if viewers != "" {
		a.files = append(a.files, roleFile{viewers, store.Viewer})
	}
	if len(a.files) == 0 {
		return nil, ErrNoAllowList
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reloadLocked(true)
	if len(a.errs) > 0 {
		return nil, errors.Join(a.errs...)
	}
	if len(a.entries) == 0 {
		return nil, ErrNoAllowList
	}
	return a, nil
}

// Lookup returns the person a key belongs to, re-reading changed files
// first. A file that disappears or becomes unreadable grants nothing.
func (a *AllowList) Lookup(key gossh.PublicKey) (Person, bool) {
	if key == nil {
		return Person{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reloadLocked(false)
	p, ok := a.entries[string(key.Marshal())]
	return p, ok
}

// Problems returns what the last read of the files found wrong (unreadable
// files, lines that are not keys), for the server log.
func (a *AllowList) Problems() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.errs...)
}

// Size reports how many keys each role has, for the start-up log.
func (a *AllowList) Size() (admins, viewers int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.entries {
		if p.Role == store.Admin {
			admins++
		} else {
			viewers++
		}
	}
	return admins, viewers
}

func (a *AllowList) reloadLocked(force bool) {
	// The files are small and logins rare: read them every time, parse only
	// when something changed, so an edit counts from the very next login.
	contents := make([][]byte, len(a.files))
	readErrs := make([]error, len(a.files))
	for i, f := range a.files {
		contents[i], readErrs[i] = os.ReadFile(f.path)
	}
	if !force && equalContents(contents, a.contents) && errors.Join(readErrs...) == nil && a.readOK {
		return
	}
	a.contents, a.readOK = contents, errors.Join(readErrs...) == nil
	a.entries = map[string]Person{}
	a.errs = nil
	for i, f := range a.files {
		data, err := contents[i], readErrs[i]
		if err != nil {
			a.errs = append(a.errs, fmt.Errorf("%s allow-list: %w", f.role, err))
			continue
		}
		for n, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			key, comment, _, _, err := gossh.ParseAuthorizedKey(line)
			if err != nil {
				a.errs = append(a.errs, fmt.Errorf("%s:%d: not a public key: %w", f.path, n+1, err))
				continue
			}
			id := string(key.Marshal())
			if prev, ok := a.entries[id]; ok && prev.Role != f.role {
				// Listed as both: the lesser role wins, and the log says so.
				a.errs = append(a.errs, fmt.Errorf("%s:%d: key is listed as both admin and viewer; treating it as viewer", f.path, n+1))
				a.entries[id] = Person{Name: prev.Name, Role: store.Viewer}
				continue
			}
			a.entries[id] = Person{Name: strings.TrimSpace(comment), Role: f.role}
		}
	}
}

func equalContents(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
