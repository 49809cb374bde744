//go:build unix

package server

import (
	"io/fs"
	"syscall"
)

// unixModes: files have owners and permission bits to check.
const unixModes = true

// fileOwner is the uid that owns a file.
func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
