package api

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"apiscopes/server/forwardauth"
)

// ConnLimits bound the connections the HTTP listener holds, so that no
// client, and no flood of idle keep-alive connections, can take the
// descriptors the rest of the server needs (the SSH console, the local
// socket, the database) or keep another client out.
//
// With the systemd unit's LimitNOFILE=4096 (docs/operations.md) and the defaults: 2,048 HTTP
// connections at most, 256 from one address (IPv6: one /64), 8 addresses to
// fill them; the other 2,048 descriptors stay for the rest, of which it
// needs about 250 (64 SSH connections before login, 32 sessions, 32 local
// commands, the metrics listener's 64, the database, its backups and etcd's
// connections). A smaller limit shrinks the cap: it is never more than
// RLIMIT_NOFILE less Reserve (and never less than half the limit).
//
// At the cap a new connection is still answered: the connection idle the
// longest (a keep-alive one between requests, or one that has sent nothing
// yet) is closed to make room. Only when every connection is busy with a
// request is the new one closed at once; a source at its own cap has its
// new connections closed at once. Trusted proxies are exempt from the
// per-source cap (every client behind them shares their address), never
// from the total.
type ConnLimits struct {
	Max          int           // connections at once (--http-max-conns)
	MaxPerSource int           // from one address (--http-max-conns-per-source); negative: no bound
	Idle         time.Duration // a keep-alive connection idle this long is closed (--http-idle-timeout)
	Reserve      int           // descriptors the listener leaves to the rest of the process; negative: none
}

// A zero field of ConnLimits takes its default.
const (
	DefaultMaxConns          = 2048
	DefaultMaxConnsPerSource = 256
	IdleTimeout              = 15 * time.Second
	DefaultReserve           = 512
	metricsMaxConns          = 64 // the metrics listener's cap
)

// DefaultConnLimits are the bounds New uses unless told otherwise.
func DefaultConnLimits() ConnLimits {
	return ConnLimits{Max: DefaultMaxConns, MaxPerSource: DefaultMaxConnsPerSource, Idle: IdleTimeout, Reserve: DefaultReserve}
}

// inBudget is l with its zero fields set to the defaults and Max cut to
// what budget descriptors allow (0: unknown, no cut).
func (l ConnLimits) inBudget(budget int) ConnLimits {
	d := DefaultConnLimits()
	if l.Max <= 0 {
		l.Max = d.Max
	}
	if l.MaxPerSource == 0 {
		l.MaxPerSource = d.MaxPerSource
	}
	if l.Idle <= 0 {
		l.Idle = d.Idle
	}
	switch {
	case l.Reserve == 0:
		l.Reserve = d.Reserve
	case l.Reserve < 0:
		l.Reserve = 0
	}
	if room := max(budget-l.Reserve, budget/2); budget > 0 && l.Max > room {
		l.Max = room
	}
	return l
}

// conns keeps the listener's connections within its ConnLimits. It works
// from http.Server's ConnState hook, which runs in the accept loop for a
// new connection before anything is read from it.
type conns struct {
	limits  ConnLimits
	proxies forwardauth.Proxies

	mu       sync.Mutex
	open     map[net.Conn]*tracked
	bySource map[netip.Prefix]int
	idle     list.List // *tracked that may be closed to make room, the longest idle first

	refused, evicted atomic.Uint64
}

type tracked struct {
	raw    net.Conn // what to close: under TLS, the connection beneath
	source netip.Prefix
	exempt bool
	elem   *list.Element // in idle, or nil while a request runs
}

func newConns(l ConnLimits, p forwardauth.Proxies) *conns {
	return &conns{limits: l, proxies: p, open: map[net.Conn]*tracked{}, bySource: map[netip.Prefix]int{}}
}

// source is the address a cap counts: the host, or an IPv6 address's /64.
func source(a net.Addr) (netip.Prefix, netip.Addr) {
	ap, _ := forwardauth.AddrOf(a.String())
	bits := ap.BitLen()
	if ap.Is6() {
		bits = 64
	}
	p, _ := ap.Prefix(bits)
	return p, ap
}

// state is the http.Server's ConnState hook.
func (cs *conns) state(c net.Conn, s http.ConnState) {
	var closing net.Conn
	cs.mu.Lock()
	switch s {
	case http.StateNew:
		closing = cs.admit(c)
	case http.StateActive:
		if t := cs.open[c]; t != nil && t.elem != nil {
			cs.idle.Remove(t.elem)
			t.elem = nil
		}
	case http.StateIdle:
		if t := cs.open[c]; t != nil && t.elem == nil {
			t.elem = cs.idle.PushBack(t)
		}
	case http.StateHijacked, http.StateClosed:
		if t := cs.open[c]; t != nil {
			if t.elem != nil {
				cs.idle.Remove(t.elem)
			}
			delete(cs.open, c)
			if !t.exempt {
				if cs.bySource[t.source]--; cs.bySource[t.source] <= 0 {
					delete(cs.bySource, t.source)
				}
			}
		}
	}
	cs.mu.Unlock()
	if closing != nil {
		closing.Close()
	}
}

// admit counts a new connection in, or returns the connection to close: the
// new one when its source is at its cap or every connection is busy, or
// the one idle the longest to make room for it.
func (cs *conns) admit(c net.Conn) (closing net.Conn) {
	raw := c
	if tc, ok := c.(*tls.Conn); ok {
		raw = tc.NetConn() // closing the TLS one would try to write an alert
	}
	src, addr := source(c.RemoteAddr())
	t := &tracked{raw: raw, source: src, exempt: cs.proxies.Contains(addr)}
	if !t.exempt && cs.limits.MaxPerSource > 0 && cs.bySource[src] >= cs.limits.MaxPerSource {
		cs.refused.Add(1)
		return raw
	}
	if len(cs.open) >= cs.limits.Max {
		front := cs.idle.Front()
		if front == nil {
			cs.refused.Add(1)
			return raw
		}
		victim := front.Value.(*tracked)
		cs.idle.Remove(front)
		victim.elem = nil
		closing = victim.raw
		cs.evicted.Add(1)
		// It stays counted until its StateClosed: the cap may be passed by
		// the few being closed, never by connections that stay.
	}
	if !t.exempt {
		cs.bySource[src]++
	}
	t.elem = cs.idle.PushBack(t) // nothing read yet: as idle as a connection gets
	cs.open[c] = t
	return closing
}

// count is the connections open and the ones closed to keep within bounds.
func (cs *conns) count() (open int, refused, evicted uint64) {
	cs.mu.Lock()
	open = len(cs.open)
	cs.mu.Unlock()
	return open, cs.refused.Load(), cs.evicted.Load()
}
