//go:build !linux

package bolt

import (
	"errors"
	"os"
)

// tryLockShared leaves quick reads to Linux: elsewhere bbolt reads the file.
func tryLockShared(*os.File) error { return errOdd }

var errWouldBlock = errors.New("would block")
