//go:build linux

package bolt

import (
	"os"
	"syscall"
)

// tryLockShared takes a shared lock on f at once, or fails with
// errWouldBlock: the lock bbolt's readers take, which its writer's
// exclusive lock excludes.
func tryLockShared(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
}

var errWouldBlock = syscall.EWOULDBLOCK
