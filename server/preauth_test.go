package server

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	gossh "golang.org/x/crypto/ssh"
)

func TestSourceOf(t *testing.T) {
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	for _, c := range []struct {
		a, b net.Addr
		same bool
	}{
		{tcp("192.0.2.1:1"), tcp("192.0.2.1:2"), true},
		{tcp("192.0.2.1:1"), tcp("192.0.2.2:1"), false},
		{tcp("[::ffff:192.0.2.1]:1"), tcp("192.0.2.1:2"), true},
		{tcp("[2001:db8:0:1::1]:1"), tcp("[2001:db8:0:1:ffff:ffff:ffff:ffff]:2"), true},
		{tcp("[2001:db8:0:1::1]:1"), tcp("[2001:db8:0:2::1]:1"), false},
		{tcp("[fe80::1%eth0]:1"), tcp("[fe80::2%eth1]:1"), true},
		{&net.UnixAddr{Name: "@"}, nil, true},
	} {
		if got := sourceOf(c.a) == sourceOf(c.b); got != c.same {
			t.Errorf("%v and %v: one source %v, want %v (%v, %v)", c.a, c.b, got, c.same, sourceOf(c.a), sourceOf(c.b))
		}
	}
}

func TestEarlyDropChance(t *testing.T) {
	d := EarlyDrop{Start: 32, Rate: 30}
	for pending, want := range map[int]int{0: 0, 31: 0, 32: 30, 48: 65, 63: 97, 64: 100, 90: 100} {
		if got := d.chance(pending, 64); got != want {
			t.Errorf("%d pending of 64: %d%% refused, want %d%%", pending, got, want)
		}
	}
	if got := NoEarlyDrop.chance(63, 64); got != 0 {
		t.Errorf("no early drop refuses %d%%", got)
	}
	if got := d.chance(1000, 0); got != 0 {
		t.Errorf("without a bound %d%% refused", got)
	}
	if got := DefaultEarlyDrop(64); got != d {
		t.Errorf("default %v, want %v", got, d)
	}
	for _, s := range []string{"32:30", "0:100", "none"} {
		v, err := ParseEarlyDrop(s)
		if err != nil || v.String() != s {
			t.Errorf("ParseEarlyDrop(%q) = %v, %v", s, v, err)
		}
	}
	for _, s := range []string{"", "32", "32:101", "-1:30", "a:b", "32:30:64"} {
		if _, err := ParseEarlyDrop(s); err == nil || !strings.Contains(err.Error(), "START:RATE") {
			t.Errorf("ParseEarlyDrop(%q): %v", s, err)
		}
	}
}

// TestGateEarlyDrop: below the start nothing is refused whatever the dice
// say; from it, a connection is refused when the dice fall under the
// chance, and the count that decides is the connections pending.
func TestGateEarlyDrop(t *testing.T) {
	var roll int
	g := newGate(Config{MaxUnauthenticated: 10, MaxUnauthenticatedPerSource: 10, EarlyDrop: EarlyDrop{Start: 4, Rate: 50},
		random: func(n int) int {
			if n != 100 {
				t.Fatalf("dice of %d", n)
			}
			return roll
		}})
	conn := func(i int) net.Conn { return addrConn{fmt.Sprintf("192.0.2.%d:1", i)} }
	roll = 0 // the worst luck: every chance above 0 refuses
	for i := range 4 {
		if _, why := g.enter(conn(i)); why != "" {
			t.Fatalf("connection %d below the start: %s", i, why)
		}
	}
	if _, why := g.enter(conn(4)); why != RefusedEarlyDrop {
		t.Fatalf("at the start, with the worst luck: %q", why)
	}
	roll = 49 // chance at 4 pending: 50%
	if _, why := g.enter(conn(5)); why != RefusedEarlyDrop {
		t.Fatalf("roll 49 of a 50%% chance: %q", why)
	}
	roll = 50
	pc, why := g.enter(conn(6))
	if why != "" {
		t.Fatalf("roll 50 of a 50%% chance: %q", why)
	}
	// 5 pending: 50 + 50×1/6 = 58%.
	roll = 57
	if _, why := g.enter(conn(7)); why != RefusedEarlyDrop {
		t.Fatalf("roll 57 of 58%%: %q", why)
	}
	pc.Close() // back to 4 pending: 50% again
	roll = 57
	if _, why := g.enter(conn(8)); why != "" {
		t.Fatalf("roll 57 of 50%%: %q", why)
	}
	roll = 99
	for i := 9; i < 14; i++ {
		g.enter(conn(i))
	}
	if all, _ := g.held(netip.Prefix{}); all != 10 {
		t.Fatalf("%d pending, want the bound, 10", all)
	}
	if _, why := g.enter(conn(20)); why != RefusedUnauthenticated {
		t.Fatalf("past the bound: %q", why)
	}
}

// addrConn is a connection that is only its remote address.
type addrConn struct{ remote string }

func (c addrConn) RemoteAddr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(c.remote))
}
func (addrConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (addrConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (addrConn) Close() error                     { return nil }
func (addrConn) LocalAddr() net.Addr              { return nil }
func (addrConn) SetDeadline(time.Time) error      { return nil }
func (addrConn) SetReadDeadline(time.Time) error  { return nil }
func (addrConn) SetWriteDeadline(time.Time) error { return nil }

// secondLoopback is 127.0.0.2 when this machine routes it (Linux does the
// whole of 127.0.0.0/8); the test is skipped otherwise.
func secondLoopback(t *testing.T) netip.Addr {
	t.Helper()
	a := netip.MustParseAddr("127.0.0.2")
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		t.Skipf("no second loopback address here: %v", err)
	}
	l.Close()
	return a
}

// connFrom opens a TCP connection to the server from the local address
// from (any, if invalid), and sends a PROXY protocol header saying it
// forwards claimed's connection, when claimed is valid.
func (ts *testServer) connFrom(from, claimed netip.Addr) net.Conn {
	ts.t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	c, err := d.Dial("tcp", ts.addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	if claimed.IsValid() {
		h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.AddrPortFrom(claimed, 40000)), c.RemoteAddr())
		h.Command = proxyproto.PROXY
		if _, err := h.WriteTo(c); err != nil {
			ts.t.Fatal(err)
		}
	}
	return c
}

// greeted reports whether the server sends its version line on c, rather
// than closing it; c is then left idle, not logged in.
func greeted(t testing.TB, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("neither a greeting nor a close: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	return strings.HasPrefix(line, "SSH-2.0-")
}

// loginOver logs u in over c, as ssh does.
func (ts *testServer) loginOver(c net.Conn, u user) error {
	conn, chans, reqs, err := gossh.NewClientConn(c, ts.addr, &gossh.ClientConfig{User: u.name,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(u.signer)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	gossh.NewClient(conn, chans, reqs).Close()
	return nil
}

// flood holds n idle connections, not logged in, from one address (or
// forwarded for claimed ones), and says how many the server greeted.
func (ts *testServer) flood(n int, from netip.Addr, claimed func(i int) netip.Addr) (greetedN int) {
	ts.t.Helper()
	for i := range n {
		var c netip.Addr
		if claimed != nil {
			c = claimed(i)
		}
		if greeted(ts.t, ts.connFrom(from, c)) {
			greetedN++
		}
	}
	return greetedN
}

// loginsAllSucceed logs u in n times in a row from from (forwarded for
// claimed, if valid), failing the test for any login refused.
func (ts *testServer) loginsAllSucceed(n int, u user, from, claimed netip.Addr) {
	ts.t.Helper()
	failed := 0
	for range n {
		if err := ts.loginOver(ts.connFrom(from, claimed), u); err != nil {
			failed++
			ts.t.Errorf("login: %v", err)
		}
	}
	if failed > 0 {
		ts.t.Fatalf("%d of %d admin logins failed during the flood; refusals %+v", failed, n, ts.srv.Refusals())
	}
}

// withServeDefaults is serve's bounds on connections not logged in, and
// dice that always fall worst: any early drop at all would refuse.
func withServeDefaults(extra func(*Config)) func(*Config) {
	return func(c *Config) {
		c.MaxUnauthenticated = DefaultMaxUnauthenticated
		c.random = func(int) int { return 0 }
		if extra != nil {
			extra(c)
		}
	}
}

// TestOneAddressCannotLockAdminsOut: 70 idle connections from one address,
// more than the whole bound, hold only that address's share; fifteen admin
// logins in a row from another address all succeed meanwhile, however the
// early drop's dice fall, while the flooding address itself gets no more.
func TestOneAddressCannotLockAdminsOut(t *testing.T) {
	other := secondLoopback(t)
	alice := newUser(t, "Alice")
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, withServeDefaults(nil))
	flooder := netip.MustParseAddr("127.0.0.1")
	if n := ts.flood(70, flooder, nil); n != DefaultUnauthenticatedPerSource {
		t.Fatalf("%d idle connections greeted from one address, want its share, %d", n, DefaultUnauthenticatedPerSource)
	}
	ts.loginsAllSucceed(15, alice, other, netip.Addr{})
	if err := ts.loginOver(ts.connFrom(flooder, netip.Addr{}), alice); err == nil {
		t.Error("a login from the flooding address got past its full share")
	}
	st := ts.srv.Refusals()
	if st.ByReason[RefusedSourceShare] != 63 || st.ByReason[RefusedEarlyDrop] != 0 || st.ByReason[RefusedUnauthenticated] != 0 {
		t.Errorf("refusals %+v, want 63 for the source's share alone", st)
	}
	ts.awaitLog("too many not logged in from this address")
}

// TestProxyProtocolGivesTheClientsAddress: behind a load balancer that
// speaks the PROXY protocol, each bound counts the client's address, not
// the balancer's (IPv6 by /64), and from= matches it; the balancer's
// connection without a header is closed, and a header from an address not
// trusted with it is not believed.
func TestProxyProtocolGivesTheClientsAddress(t *testing.T) {
	alice, bob := newUser(t, "Alice"), newUser(t, "Bob")
	lb := netip.MustParseAddr("127.0.0.1")
	ts := startServerWith(t, t.TempDir(), []user{alice, bob}, nil, withServeDefaults(func(c *Config) {
		c.ProxyProtocolFrom = []netip.Prefix{netip.PrefixFrom(lb, 32)}
	}))
	lines := `from="203.0.113.0/24" ` + alice.line() + `from="2001:db8:2::/48" ` + bob.line()
	if err := os.WriteFile(ts.admins, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Reload(); err != nil {
		t.Fatal(err)
	}

	v4 := netip.MustParseAddr("198.51.100.7")
	if n := ts.flood(70, lb, func(int) netip.Addr { return v4 }); n != DefaultUnauthenticatedPerSource {
		t.Fatalf("%d greeted from one client behind the balancer, want its share, %d", n, DefaultUnauthenticatedPerSource)
	}
	// One /64, a new address each time: still one source.
	if n := ts.flood(20, lb, func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i + 1)})
	}); n != DefaultUnauthenticatedPerSource {
		t.Fatalf("%d greeted from one IPv6 /64, want its share, %d", n, DefaultUnauthenticatedPerSource)
	}
	ts.loginsAllSucceed(15, alice, lb, netip.MustParseAddr("203.0.113.9"))
	ts.loginsAllSucceed(5, bob, lb, netip.MustParseAddr("2001:db8:2::5"))

	// from= sees the client's address: Alice from elsewhere is refused.
	if err := ts.loginOver(ts.connFrom(lb, netip.MustParseAddr("192.0.2.1")), alice); err == nil {
		t.Error("from= let Alice in from an address it does not list")
	}
	ts.awaitLog("remote=192.0.2.1:40000")

	// The balancer must send its header: a client on its machine speaking
	// SSH straight away is closed.
	bare := ts.connFrom(lb, netip.Addr{})
	if _, err := bare.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")); err != nil {
		t.Fatal(err)
	}
	if greeted(t, bare) {
		t.Error("the balancer's connection without a PROXY header was greeted")
	}
	ts.awaitLog("no PROXY protocol header from a trusted proxy")

	// Anyone else's header is not believed: the handshake takes it for a
	// broken greeting.
	c := ts.connFrom(secondLoopback(t), netip.MustParseAddr("203.0.113.9"))
	if err := ts.loginOver(c, alice); err == nil {
		t.Error("a header from an address not trusted with it let Alice in as 203.0.113.9")
	}
	if n := ts.srv.Refusals().ByReason[RefusedProxyHeader]; n != 1 {
		t.Errorf("%d refused for their header, want 1", n)
	}
}

// TestEarlyDropRefusesAtRandom: the server rolls its dice for each new
// connection once the early drop's start is reached, and only then.
func TestEarlyDropRefusesAtRandom(t *testing.T) {
	var roll atomic.Int64
	ts := startServerWith(t, t.TempDir(), []user{newUser(t, "Alice")}, nil, func(c *Config) {
		c.MaxUnauthenticated, c.MaxUnauthenticatedPerSource, c.EarlyDrop = 8, 8, EarlyDrop{Start: 4, Rate: 50}
		c.random = func(int) int { return int(roll.Load()) }
	})
	if n := ts.flood(4, netip.Addr{}, nil); n != 4 {
		t.Fatalf("%d of 4 greeted below the start, with the worst dice", n)
	}
	roll.Store(49) // a 50% chance at 4 pending
	if n := ts.flood(1, netip.Addr{}, nil); n != 0 {
		t.Fatal("greeted at a roll of 49 against 50%")
	}
	roll.Store(50)
	if n := ts.flood(1, netip.Addr{}, nil); n != 1 {
		t.Fatal("refused at a roll of 50 against 50%")
	}
	if st := ts.srv.Refusals(); st.ByReason[RefusedEarlyDrop] != 1 {
		t.Errorf("refusals %+v, want one early drop", st)
	}
	ts.awaitLog("dropped early")
}
