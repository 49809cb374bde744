package server

import (
	"net"

	"charm.land/ssh"
)

// Connections are counted from the moment the server takes one until its
// handler returns, so that Shutdown can wait for them itself. (The ssh
// package's own Shutdown waits on a WaitGroup that a connection finishing
// its handshake at that moment adds to: a race.)

func (s *SSH) connOpened(ctx ssh.Context, c net.Conn) net.Conn {
	remember(ctx, c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == 0 {
		s.noConns = make(chan struct{})
	}
	s.conns++
	return c
}

func (s *SSH) connClosed(net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns--
	if s.conns == 0 {
		close(s.noConns)
	}
}

// connsGone is closed once no connection is open.
func (s *SSH) connsGone() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	return s.noConns
}
