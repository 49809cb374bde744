package store

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by the store. Compare with errors.Is: most are wrapped
// with the detail a person needs (which name, which file).
var (
	ErrLocked      = errors.New("database is in use by another process")
	ErrNotDatabase = errors.New("not an apiscopes database")
	ErrNotFound    = errors.New("not found")
	ErrPermission  = errors.New("permission denied")
	ErrNoScopes    = errors.New("select at least one scope")

	ErrNameEmpty   = errors.New("name is empty")
	ErrNameTooLong = fmt.Errorf("name is longer than %d characters", MaxNameLen)
	ErrNameInvalid = errors.New("name contains control or direction-override characters")
	ErrNameTaken   = errors.New("name is already used")
	// ErrKeyNameTaken is ErrNameTaken for a key name within its app.
	ErrKeyNameTaken = fmt.Errorf("%w by another key of this app", ErrNameTaken)

	ErrExpiryPast = errors.New("the expiry date has passed: choose a later one")
	ErrKeyRolled  = errors.New("this API key was already rolled: roll its new key instead")
	ErrGrace      = fmt.Errorf("the grace period must be between none and %d days", MaxGrace/(24*time.Hour))

	ErrKeyMalformed   = errors.New("malformed API key")
	ErrKeyBadChecksum = errors.New("API key checksum does not match")
)

// LockedError says which database file is held by another process and what
// to do about it. It matches ErrLocked.
type LockedError struct{ Path string }

func (e *LockedError) Error() string {
	return fmt.Sprintf("database %s is in use by another apiscopes process (a console or `apiscopes serve`); "+
		"close that process, or connect to the running server with ssh, then try again", e.Path)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// NameError is a rejected app or key name: what was wrong, for which name.
// It matches the Err* name errors through Unwrap.
type NameError struct {
	Name string // as given, possibly unprintable: sanitize before showing
	Err  error
}

func (e *NameError) Error() string { return e.Err.Error() }
func (e *NameError) Unwrap() error { return e.Err }
