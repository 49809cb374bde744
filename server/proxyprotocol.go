package server

import (
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
)

// Behind a load balancer every connection comes from the balancer's
// address, which would make the per-source share one share for everyone
// and write the balancer into the audit trail. A balancer that speaks the
// PROXY protocol (HAProxy's; v1 or v2) says whose connection it forwards:
// from the addresses trusted for it (Config.ProxyProtocolFrom), that header
// is required and its source address stands for the connection in every
// bound, from= match and log line. From any other address a connection is
// taken as it is, and a header it sends is not believed: the SSH handshake
// reads it as noise.

// proxied wraps ln so that connections from the trusted networks must open
// with a PROXY protocol header, read within timeout.
func proxied(ln net.Listener, trusted []netip.Prefix, timeout time.Duration) net.Listener {
	if len(trusted) == 0 {
		return ln
	}
	if timeout <= 0 {
		timeout = proxyproto.DefaultReadHeaderTimeout
	}
	return &proxyproto.Listener{Listener: ln, ReadHeaderTimeout: timeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if ip := ipOf(o.Upstream); ip.IsValid() {
				for _, p := range trusted {
					if p.Contains(ip) {
						return proxyproto.REQUIRE, nil
					}
				}
			}
			return proxyproto.SKIP, nil
		}}
}

// withoutProxyHeader reports a connection from a trusted proxy that did not
// open with a valid header in time; it reads the header if need be.
func withoutProxyHeader(c net.Conn) bool {
	pc, ok := c.(*proxyproto.Conn)
	return ok && pc.ProxyHeader() == nil
}

// upstream is the address a connection came from on the wire: the proxy's,
// for a proxied connection.
func upstream(c net.Conn) net.Addr {
	if pc, ok := c.(*proxyproto.Conn); ok {
		return pc.Raw().RemoteAddr()
	}
	return c.RemoteAddr()
}
