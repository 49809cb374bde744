package server

import (
	"net"
	"net/netip"
)

// sourceOf is who a connection comes from, for the share of the
// connections not yet logged in that one source may hold: an IPv4
// address, or an IPv6 /64. A /64 is one subscriber's network, in which a
// host picks new addresses at will, so counting IPv6 addresses one by one
// would bound nothing. An IPv4 address mapped into IPv6 counts as itself.
// An address that is not IP (a pipe in a test) is the invalid prefix: all
// such connections are one source.
func sourceOf(a net.Addr) netip.Prefix {
	ip := ipOf(a)
	switch {
	case !ip.IsValid():
		return netip.Prefix{}
	case ip.Is4():
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// ipOf is a's IP address, an IPv4 one mapped into IPv6 as itself, without
// a zone; the invalid address when a is not IP.
func ipOf(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case nil:
		return ip
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return ip
		}
		ip = ap.Addr()
	}
	return ip.Unmap().WithZone("")
}
