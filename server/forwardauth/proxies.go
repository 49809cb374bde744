package forwardauth

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"apiscopes/store"
)

// Proxies are the addresses trusted to speak for a client (--trusted-proxies):
// gateways and load balancers. Only a request from one of them may name the
// client's address (X-Forwarded-For, X-Real-IP) or the scope
// (X-Apiscopes-Scope), and they are exempt from the per-source connection
// cap, since every client behind them shares their address.
type Proxies struct{ nets []netip.Prefix }

// ParseProxies reads a comma-separated list of addresses and CIDR networks
// ("127.0.0.1, 10.0.0.0/8, ::1"). An empty list trusts no one.
func ParseProxies(list string) (Proxies, error) {
	var p Proxies
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if pre, err := netip.ParsePrefix(f); err == nil {
			p.nets = append(p.nets, pre.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return Proxies{}, fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR network (10.0.0.0/8)", store.RedactKeys(f))
		}
		a = a.Unmap()
		p.nets = append(p.nets, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// Contains reports whether a is a trusted proxy.
func (p Proxies) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Len is how many addresses and networks are trusted.
func (p Proxies) Len() int { return len(p.nets) }

// AddrOf is the address of a "host:port" network address (a request's
// RemoteAddr), and false when it has none.
func AddrOf(hostport string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap(), true
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

// Client is the address of the client a gateway speaks for. A forward-auth
// request always comes from the gateway (peer), so the client's address
// comes only from what a trusted peer says: the rightmost X-Forwarded-For
// entry that is not itself a trusted proxy (entries further left are the
// client's to write), else X-Real-IP. From any other peer, or when what it
// says is not an address, it is unknown (false).
func (p Proxies) Client(peer netip.Addr, forwardedFor, realIP []string) (netip.Addr, bool) {
	if !peer.IsValid() || !p.Contains(peer) {
		return netip.Addr{}, false
	}
	var hops []string
	for _, v := range forwardedFor {
		hops = append(hops, strings.Split(v, ",")...)
	}
	if len(hops) > 0 {
		var a netip.Addr
		for i := len(hops) - 1; i >= 0; i-- {
			var ok bool
			if a, ok = AddrOf(strings.TrimSpace(hops[i])); !ok {
				return netip.Addr{}, false
			}
			if !p.Contains(a) {
				return a, true
			}
		}
		return a, true // every hop a proxy: the first is the client
	}
	if len(realIP) == 1 {
		a, ok := AddrOf(strings.TrimSpace(realIP[0]))
		return a, ok
	}
	return netip.Addr{}, false
}
