package bolt

import (
	"context"
	"io"
	"os"
	"path/filepath"
)

// backupTempPattern names a backup being written, beside its destination:
// recognisable, hidden, and never mistaken for a backup (ListBackups wants
// apiscopes-<time>.db).
const backupTempPattern = ".apiscopes-backup-*.tmp"

// createBackupTemp creates the temporary file of a backup in dir, first
// removing the ones that backups killed before they could clean up left
// there. The new file is held with a shared lock until it is closed, which
// is how a later backup tells a stale file (no holder) from one that a
// backup running now is writing.
func createBackupTemp(dir string) (*os.File, error) {
	removeStaleBackupTemps(dir)
	for attempt := 0; ; attempt++ {
		f, err := os.CreateTemp(dir, backupTempPattern)
		if err != nil {
			return nil, err
		}
		if err := lockShared(f); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		// A backup cleaning the folder between CreateTemp and the lock
		// took the file for stale: it is gone, so take another name.
		if attempt == 3 || stillThere(f) {
			return f, nil
		}
		f.Close()
	}
}

// stillThere reports whether f's name still names f.
func stillThere(f *os.File) bool {
	byName, err := os.Stat(f.Name())
	if err != nil {
		return false
	}
	open, err := f.Stat()
	return err == nil && os.SameFile(open, byName)
}

// removeStaleBackupTemps removes the backup temporaries in dir that no
// process holds: what a backup killed mid-way (SIGKILL, a power cut) left.
// Where locks are not available, it removes nothing.
func removeStaleBackupTemps(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, backupTempPattern))
	for _, name := range names {
		if fi, err := os.Lstat(name); err != nil || !fi.Mode().IsRegular() {
			continue // never follow a link out of the folder
		}
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if tryLockExclusive(f) {
			os.Remove(name)
		}
		f.Close()
	}
}

// ctxWriter stops a copy once ctx is done: a backup interrupted by a
// signal fails at its next write, and its temporary file is removed.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
