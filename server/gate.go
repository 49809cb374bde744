package server

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// gate bounds the connections that have not authenticated yet. Anyone on
// the network can open one, and each costs a goroutine, buffers and a key
// exchange until the handshake timeout ends it. Past the bound, a new
// connection is closed the moment it is taken, before any greeting; one
// source (see sourceOf) may hold only its share, so one address flooding
// leaves the rest to everyone else; and past the early drop's start, new
// connections are refused at random, more the fuller it gets, so many
// addresses flooding together still leave an admin's login good odds. A
// connection leaves the count when it authenticates or closes, so
// logged-in admins never hold a place.
type gate struct {
	max       int // 0 means no bound
	perSource int // 0 means no share
	drop      EarlyDrop
	random    func(n int) int // a number in [0, n)

	mu       sync.Mutex
	pending  int
	bySource map[netip.Prefix]int
}

// newGate is a gate for cfg's bounds, with their defaults filled in.
func newGate(cfg Config) *gate {
	g := &gate{max: cfg.MaxUnauthenticated, perSource: cfg.MaxUnauthenticatedPerSource, drop: cfg.EarlyDrop,
		random: cfg.random, bySource: map[netip.Prefix]int{}}
	if g.perSource <= 0 && g.max > 0 {
		g.perSource = min(DefaultUnauthenticatedPerSource, g.max)
	}
	if g.drop == (EarlyDrop{}) {
		g.drop = DefaultEarlyDrop(g.max)
	}
	if g.random == nil {
		g.random = rand.IntN
	}
	return g
}

// enter counts c as pending, or says why it may not be: the reason a
// refusal is logged with.
func (g *gate) enter(c net.Conn) (*pendingConn, string) {
	src := sourceOf(c.RemoteAddr())
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.max > 0 && g.pending >= g.max:
		return nil, RefusedUnauthenticated
	case g.perSource > 0 && g.bySource[src] >= g.perSource:
		return nil, RefusedSourceShare
	case g.random(100) < g.drop.chance(g.pending, g.max):
		return nil, RefusedEarlyDrop
	}
	g.pending++
	g.bySource[src]++
	return &pendingConn{Conn: c, g: g, src: src}, ""
}

func (g *gate) leave(src netip.Prefix) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending--
	if g.bySource[src]--; g.bySource[src] <= 0 {
		delete(g.bySource, src)
	}
}

// held is how many connections are pending in all and from src.
func (g *gate) held(src netip.Prefix) (all, fromSource int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pending, g.bySource[src]
}

// pendingConn is a connection in the gate's count until it authenticates
// or closes, whichever comes first.
type pendingConn struct {
	net.Conn
	g    *gate
	src  netip.Prefix
	once sync.Once
}

func (c *pendingConn) authenticated() { c.once.Do(func() { c.g.leave(c.src) }) }

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
