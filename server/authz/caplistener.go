package authz

import (
	"net"
	"net/netip"
	"sync"

	"apiscopes/server/forwardauth"
)

// capListener closes, as they arrive, connections past a total cap or past
// their source's share (trusted proxies exempt): a flood of connections
// cannot take the process's descriptors.
type capListener struct {
	net.Listener
	max, perSource int
	proxies        forwardauth.Proxies

	mu       sync.Mutex
	open     int
	bySource map[netip.Prefix]int
}

func newCapListener(ln net.Listener, max, perSource int, p forwardauth.Proxies) *capListener {
	return &capListener{Listener: ln, max: max, perSource: perSource, proxies: p, bySource: map[netip.Prefix]int{}}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a, _ := forwardauth.AddrOf(c.RemoteAddr().String())
		bits := a.BitLen()
		if a.Is6() {
			bits = 64
		}
		src, _ := a.Prefix(bits)
		exempt := l.proxies.Contains(a)
		l.mu.Lock()
		ok := l.open < l.max && (exempt || l.perSource <= 0 || l.bySource[src] < l.perSource)
		if ok {
			l.open++
			if !exempt {
				l.bySource[src]++
			}
		}
		l.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &capConn{Conn: c, release: func() { l.release(src, exempt) }}, nil
	}
}

func (l *capListener) release(src netip.Prefix, exempt bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if !exempt {
		if l.bySource[src]--; l.bySource[src] <= 0 {
			delete(l.bySource, src)
		}
	}
}

// capConn gives its place back once, when closed.
type capConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
