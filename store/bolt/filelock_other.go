//go:build !unix

package bolt

import "os"

// Without flock, a backup's temporary file cannot be told from a running
// backup's: none is taken for stale.
func lockShared(*os.File) error      { return nil }
func tryLockExclusive(*os.File) bool { return false }

// beforeRename closes the temporary file: some systems (Windows) refuse to
// rename a file that is open.
func beforeRename(f *os.File) { f.Close() }
