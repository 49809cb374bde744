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

// connOpened takes a new connection, or closes it before any greeting: a
// trusted proxy's without its header, or one the gate does not let in. It
// runs on the connection's own goroutine, so a proxy's header is waited for
// without holding up the others.
func (s *SSH) connOpened(ctx ssh.Context, c net.Conn) net.Conn {
	if withoutProxyHeader(c) {
		s.refusals.refuse(RefusedProxyHeader, upstream(c), "connection closed: no PROXY protocol header from a trusted proxy")
		return nil
	}
	pc, reason := s.gate.enter(c)
	if pc == nil {
		s.refuseAtGate(reason, c.RemoteAddr())
		return nil
	}
	remember(ctx, pc)
	s.conns.add(1)
	return pc
}

// refuseAtGate logs a connection the gate closed, saying which bound.
func (s *SSH) refuseAtGate(reason string, remote net.Addr) {
	g := s.gate
	all, mine := g.held(sourceOf(remote))
	switch reason {
	case RefusedUnauthenticated:
		s.refusals.refuse(reason, remote, "connection closed: too many not logged in", "limit", g.max)
	case RefusedSourceShare:
		s.refusals.refuse(reason, remote, "connection closed: too many not logged in from this address",
			"limit", g.perSource, "held", mine)
	case RefusedEarlyDrop:
		s.refusals.refuse(reason, remote, "connection closed: dropped early, many not logged in",
			"pending", all, "early_drop", g.drop.String(), "limit", g.max)
	}
}

func (s *SSH) connClosed(net.Conn) { s.conns.add(-1) }
