//go:build !linux

package local

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"time"
)

// Local commands reach a holder on Linux only, where the kernel says who is
// at the other end of a socket (SO_PEERCRED). Elsewhere a holder does not
// listen, and local commands read the file when no process holds it.

var errUnsupported = fmt.Errorf("%w on %s", ErrNoSocket, runtime.GOOS)

func peerUID(*net.UnixConn) (uint32, error) { return 0, errUnsupported }

func dial(place, time.Duration) (*net.UnixConn, error) { return nil, ErrNoHolder }

func listen(place) (*net.UnixListener, uint64, error) { return nil, 0, errUnsupported }

func remove(place, uint64) {}

func owner(os.FileInfo) uint32 { return 0 }

// writerHolds assumes a locked file has a writer: a second console gives up
// after its timeout, as it always did.
func writerHolds(string) bool { return true }
