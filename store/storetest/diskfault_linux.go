// Package storetest lets tests of the store, and of what sits on it, make
// the disk under an open database fail as a full or read-only disk does.
package storetest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// FailWrites makes the file system refuse every write this process makes to
// the open database file at path, until restore is called: its descriptor
// is pointed at device, opened with flag. /dev/full fails writes as a full
// disk does (ENOSPC); the database itself opened read-only fails them as a
// read-only file does. Reads still come from bbolt's memory map, exactly as
// when a disk fills up under a running program.
//
// A device has no size, so a change that makes bbolt grow the file fails on
// that instead ("file size too small"): a test that writes more than a page
// or two gives the store free pages first, as a database that has
// been in use has.
func FailWrites(t testing.TB, path, device string, flag int) (restore func()) {
	t.Helper()
	fd := openDescriptor(t, path)
	saved, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.OpenFile(device, flag, 0)
	if err != nil {
		t.Skipf("cannot open %s here: %v", device, err)
	}
	defer bad.Close()
	if err := unix.Dup2(int(bad.Fd()), fd); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		if err := unix.Dup2(saved, fd); err != nil {
			t.Fatal(err)
		}
		unix.Close(saved)
	}
	t.Cleanup(restore)
	return restore
}

// openDescriptor finds this process's descriptor for the file at path.
func openDescriptor(t testing.TB, path string) int {
	t.Helper()
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd here: %v", err)
	}
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == want {
			fd, _ := strconv.Atoi(e.Name())
			return fd
		}
	}
	t.Fatalf("%s is not open in this process", path)
	return -1
}
