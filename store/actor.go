package store

import "fmt"

// Role is what an actor may do.
type Role string

const (
	Admin  Role = "admin"  // may read and change everything
	Viewer Role = "viewer" // may read; every change is refused
)

// Actor is the person on whose behalf a change is made. The store checks the
// role on every mutation, so a screen that forgets to hide a button cannot
// let a viewer write.
type Actor struct {
	Name   string // display name, recorded as "Created by" and in the audit trail
	Role   Role
	Origin string // where the change came from, e.g. "local" or an SSH address and key fingerprint
	// Key is the fingerprint of the SSH key the actor logged in with
	// (SHA256:…), "" for a local user: with the name, it tells admins apart
	// for four eyes (approvals.go).
	Key string

	// Standing, when set, is asked on every change for the actor's role as
	// it is now, for a session that outlives its login (see standing.go).
	Standing func() (Role, error)
}

// mayWrite cleans the actor for writing (see clean), then checks that it
// may write. Every change calls it on its own copy of the actor first, so
// nothing a change writes holds an uncleaned name.
func (a *Actor) mayWrite() error {
	a.clean()
	if a.Name == "" {
		return fmt.Errorf("%w: no acting user", ErrPermission)
	}
	if a.Role != Admin {
		return fmt.Errorf("%w: %s is a %s; only admins can make changes", ErrPermission, a.Name, roleName(a.Role))
	}
	return a.standing()
}

func roleName(r Role) string {
	if r == "" {
		return "user without a role"
	}
	return string(r)
}

// mayWrite is the permission check of every change, made by the store
// whatever a screen offered.
func (s *Store) mayWrite(a *Actor) error { return a.mayWrite() }
