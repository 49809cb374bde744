package server

import (
	"net"
	"sync"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// gate bounds the connections that have not authenticated yet. Anyone on
// the network can open one, and each costs a goroutine, buffers and a key
// exchange until the handshake timeout ends it; past the bound, a new
// connection is closed the moment it is accepted. A connection leaves the
// count when it authenticates or closes, so logged-in admins never hold a
// place.
type gate struct {
	max     int // 0 means no bound
	refused func(remote net.Addr)

	mu      sync.Mutex
	pending int
}

// enter counts c as pending, or reports false when the gate is full.
func (g *gate) enter(c net.Conn) (*pendingConn, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.max > 0 && g.pending >= g.max {
		return nil, false
	}
	g.pending++
	return &pendingConn{Conn: c, g: g}, true
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending--
}

// gatedListener closes connections the gate does not let in.
type gatedListener struct {
	net.Listener
	g *gate
}

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if pc, ok := l.g.enter(c); ok {
			return pc, nil
		}
		if l.g.refused != nil {
			l.g.refused(c.RemoteAddr())
		}
		c.Close()
	}
}

// pendingConn is a connection in the gate's count until it authenticates
// or closes, whichever comes first.
type pendingConn struct {
	net.Conn
	g    *gate
	once sync.Once
}

func (c *pendingConn) authenticated() { c.once.Do(c.g.leave) }

func (c *pendingConn) Close() error {
	c.authenticated()
	return c.Conn.Close()
}

type pendingKey struct{}

// remember lets ctx know its connection's place in the gate, so that
// authenticated can free it.
func remember(ctx ssh.Context, c net.Conn) {
	if pc, ok := c.(*pendingConn); ok {
		ctx.SetValue(pendingKey{}, pc)
	}
}

// authConfig is a connection's handshake configuration: the handshake's
// authentication log, which reports success only after a signature has
// verified, lets the connection out of the gate's count.
func authConfig(ctx ssh.Context) *gossh.ServerConfig {
	return &gossh.ServerConfig{AuthLogCallback: func(_ gossh.ConnMetadata, _ string, err error) {
		if pc, ok := ctx.Value(pendingKey{}).(*pendingConn); ok && err == nil {
			pc.authenticated()
		}
	}}
}
