//go:build unix

package api

import "syscall"

// descriptorLimit is the number of descriptors the process may open: its
// RLIMIT_NOFILE (which Go raises to the hard limit at start), or 0 if
// unknown.
func descriptorLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<24 {
		return 0
	}
	return int(l.Cur)
}
