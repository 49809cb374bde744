package store

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// Errors returned by the store. Compare with errors.Is: most are wrapped
// with the detail a person needs (which name, which file).
var (
	ErrLocked      = errors.New("database is in use by another process")
	ErrNotDatabase = errors.New("not an apiscopes database")
	ErrDamaged     = errors.New("the database is damaged")
	ErrWriteFailed = errors.New("the change could not be saved")
	ErrNotFound    = errors.New("not found")
	ErrPermission  = errors.New("permission denied")
	ErrNoScopes    = errors.New("select at least one scope")

	ErrNameEmpty   = errors.New("name is empty")
	ErrNameTooLong = fmt.Errorf("name is longer than %d characters", MaxNameLen)
	ErrNameInvalid = errors.New("name contains control or direction-override characters")
	ErrNameTaken   = errors.New("name is already used")
	ErrNameJoiner  = errors.New("name has a zero-width joiner outside an emoji (it would make two names look alike)")
	// ErrKeyNameTaken is ErrNameTaken for a key name within its app.
	ErrKeyNameTaken = fmt.Errorf("%w by another key of this app", ErrNameTaken)

	ErrExpiryPast = errors.New("the expiry date has passed: choose a later one")
	ErrKeyRolled  = errors.New("this API key was already rolled: roll its new key instead")
	ErrGrace      = fmt.Errorf("the grace period must be between none and %d days", MaxGrace/(24*time.Hour))

	ErrKeyMalformed   = errors.New("malformed API key")
	ErrKeyBadChecksum = errors.New("API key checksum does not match")
)

// HollowAdvice is what to do with an existing file that holds no apiscopes
// data yet: most often a copy or a restore that was cut short.
const HollowAdvice = "was a copy or a restore cut short? Restore the backup again " +
	"(see \"Restoring a backup\" in docs/operations.md), or remove the file to start a new database"

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

// ErrOutcomeUnknown matches a change an engine could not confirm: a
// cluster that did not answer in time may yet have applied it.
var ErrOutcomeUnknown = errors.New("the cluster did not say whether the change was saved")

// WriteFailure is a change an engine refused or could not confirm, as a
// person is told about it: the cause in a few words and what to do. A
// *WriteError (the file) and the etcd engine's commit errors are
// WriteFailures, so every screen and command says the same of either.
type WriteFailure interface {
	error
	Reason() string // "the disk is full"
	Remedy() string // "Free some space and try again."
}

// WriteError is a change the file system refused to store: the disk is full,
// the file system is read-only, the file cannot be written. bbolt rolled the
// transaction back, so nothing of the change is in the file and the store
// goes on working; the same change can be tried again once the cause is
// fixed. It matches ErrWriteFailed and unwraps to the system's error.
type WriteError struct {
	Path string
	Err  error
}

func (e *WriteError) Error() string {
	cause, remedy := e.explain()
	return fmt.Sprintf("%v to %s: %s (%v); nothing was changed. %s", ErrWriteFailed, e.Path, cause, e.Err, remedy)
}

// Reason is the cause in a few words, such as "the disk is full", for a
// message that names the file elsewhere.
func (e *WriteError) Reason() string { cause, _ := e.explain(); return cause }

// Remedy says what to do about it, as a sentence.
func (e *WriteError) Remedy() string { _, remedy := e.explain(); return remedy }

func (e *WriteError) Is(target error) bool { return target == ErrWriteFailed }
func (e *WriteError) Unwrap() error        { return e.Err }

func (e *WriteError) explain() (cause, remedy string) {
	switch {
	case isErrno(e.Err, syscall.ENOSPC, syscall.EDQUOT):
		return "the disk is full", "Free some space and try again."
	case isErrno(e.Err, syscall.EROFS):
		return "the file system is read-only", "Make it writable and try again."
	case isErrno(e.Err, syscall.EACCES, syscall.EPERM, syscall.EBADF):
		return "the file is not writable", "Check its permissions and try again."
	case isErrno(e.Err, syscall.EFBIG):
		return "the file is at its size limit", "Raise the limit and try again."
	}
	return "the file system refused the write", "Check the disk and try again."
}

// isErrno reports whether err is one of the system errors, also where bbolt
// kept only its text (it formats a failed resize with %s, not %w).
func isErrno(err error, errnos ...syscall.Errno) bool {
	for _, n := range errnos {
		if errors.Is(err, n) || strings.Contains(err.Error(), n.Error()) {
			return true
		}
	}
	return false
}

var _ WriteFailure = (*WriteError)(nil)
