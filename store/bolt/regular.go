package bolt

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"apiscopes/store"
)

// openRegular opens name as os.OpenFile does, and refuses anything but a
// regular file: a FIFO, a device, a socket or a folder given as the
// database. The open itself does not wait (O_NONBLOCK), so a FIFO nobody
// writes cannot hang the command, whatever signal it is sent; on a regular
// file the flag changes nothing.
func openRegular(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notAFile(name, fi.Mode())
	}
	return f, nil
}

// notAFile refuses a path that is not a regular file, naming what it is.
func notAFile(name string, mode fs.FileMode) error {
	what := "not a regular file"
	switch {
	case mode&fs.ModeNamedPipe != 0:
		what = "a FIFO (named pipe)"
	case mode&fs.ModeDevice != 0, mode&fs.ModeCharDevice != 0:
		what = "a device"
	case mode&fs.ModeSocket != 0:
		what = "a socket"
	case mode.IsDir():
		what = "a folder"
	}
	return fmt.Errorf("%s is %s, %w: give the path of a database file with --db", name, what, store.ErrNotDatabase)
}

// checkRegular refuses an existing path that is not a regular file, before
// anything opens it.
func checkRegular(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() {
		return nil // missing: made, or refused, by the one who opens it
	}
	return notAFile(path, fi.Mode())
}
