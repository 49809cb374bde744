//go:build !linux

package cli

import (
	"os"
	"testing"
)

// openTerminal gives a pseudo-terminal on Linux only; elsewhere the tests
// that need one are skipped.
func openTerminal(t *testing.T) *os.File {
	t.Skip("pseudo-terminals are opened on Linux only")
	return nil
}

func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Skip("pseudo-terminals are opened on Linux only")
	return nil, nil
}
