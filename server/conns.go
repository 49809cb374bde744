package server

import (
	"net"
	"sync"

	"charm.land/ssh"
)

// Connections are counted from the moment the server takes one until its
// handler returns, and sessions from admission until they end, so that
// Shutdown can wait for them itself. (The ssh package's own Shutdown waits
// on a WaitGroup that a connection finishing its handshake at that moment
// adds to: a race.)

// tally counts things that end, and says when none are left.
type tally struct {
	mu   sync.Mutex
	n    int
	none chan struct{} // closed while n is 0
}

func newTally() *tally {
	t := &tally{none: make(chan struct{})}
	close(t.none)
	return t
}

func (t *tally) add(d int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 && d > 0 {
		t.none = make(chan struct{})
	}
	t.n += d
	if t.n == 0 {
		close(t.none)
	}
}

// gone is closed once the count is 0.
func (t *tally) gone() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.none
}

func (s *SSH) connOpened(ctx ssh.Context, c net.Conn) net.Conn {
	remember(ctx, c)
	s.conns.add(1)
	return c
}

func (s *SSH) connClosed(net.Conn) { s.conns.add(-1) }
