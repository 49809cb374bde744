package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// tightenMode makes the database file at path private to its owner (0600)
// when its group or others may read or write it, and says so on warn. The
// file holds every key's digest and the audit trail; apiscopes creates it
// private, but a copy, a restore or a umask may have widened it. Only the
// commands that write call it: a read-only command never changes the file.
// A missing file is left to be created; a mode that cannot be changed (the
// file is another user's) is only warned about.
func tightenMode(path string, warn io.Writer) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(path, 0o600); err != nil {
		fmt.Fprintf(warn, "apiscopes: warning: %s can be read or written by others (mode %04o), and making it private failed: %v\n",
			path, fi.Mode().Perm(), err)
		return
	}
	fmt.Fprintf(warn, "apiscopes: warning: %s could be read or written by others (mode %04o); it is now private to its owner (0600)\n",
		path, fi.Mode().Perm())
}
