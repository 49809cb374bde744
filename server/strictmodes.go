package server

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Like sshd's StrictModes, the server refuses files that someone else
// could have changed: an allow-list or host key that group or others can
// write (anyone who can write an allow-list can let themselves in), a host
// private key that group or others can read (anyone who can read it can
// pose as this server), a file owned by someone other than the user the
// server runs as or root, and a file in a folder everyone can write
// without the sticky bit (anyone could replace it). Each refusal names the
// file and the command that fixes it.

// checkAllowListModes checks an allow-list file.
func checkAllowListModes(path string) error { return checkModes(path, false) }

// checkHostKeyModes checks the host's private key.
func checkHostKeyModes(path string) error { return checkModes(path, true) }

func checkModes(path string, private bool) error {
	if !unixModes {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	mode := fi.Mode().Perm()
	switch {
	case private && mode&0o077 != 0:
		return fmt.Errorf("%s: the host's private key is open to group or others (mode %04o): anyone who can read it can pose as this server; fix: chmod 600 %s", path, mode, path)
	case mode&0o022 != 0:
		return fmt.Errorf("%s: writable by group or others (mode %04o): anyone who can write it can let themselves in; fix: chmod go-w %s", path, mode, path)
	}
	if uid, ok := fileOwner(fi); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("%s: owned by uid %d, neither root nor the user apiscopes runs as (uid %d), who could change it; fix: chown %d %s", path, uid, os.Geteuid(), os.Geteuid(), path)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if di.Mode().Perm()&0o002 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("%s: its folder %s is writable by everyone, who could replace it; fix: chmod o-w %s (or chmod +t %s)", path, dir, dir, dir)
	}
	return nil
}
