//go:build unix

package bolt

import (
	"os"
	"syscall"
)

// lockShared takes a shared advisory lock on f, held until f is closed. It
// does not keep readers out (bbolt's read-only open shares it), only a
// tryLockExclusive.
func lockShared(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_SH) }

// tryLockExclusive reports whether f can be locked exclusively at once,
// which means no other process holds it; the lock goes with f's close.
func tryLockExclusive(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// beforeRename readies a held temporary file for its rename: on Unix it
// stays open, and locked, until the rename is done.
func beforeRename(*os.File) {}
