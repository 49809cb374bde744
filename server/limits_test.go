package server

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// rawConn is a TCP connection to the server that never logs in.
type rawConn struct {
	net.Conn
	closed chan struct{} // closed once the server has closed its side
	banner string        // the server's version line, if it sent one
}

// dialRaw connects and reads what the server says first: its version line,
// or nothing when it closes the connection at once.
func (ts *testServer) dialRaw() *rawConn {
	ts.t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	r := &rawConn{Conn: c, closed: make(chan struct{})}
	got := make(chan string, 1)
	go func() {
		defer close(r.closed)
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		got <- line
		for err == nil {
			_, err = br.ReadByte()
		}
	}()
	select {
	case r.banner = <-got:
	case <-time.After(10 * time.Second):
		ts.t.Fatal("the server neither greeted nor closed a new connection")
	}
	return r
}

// awaitOpen waits until the server has n sessions open.
func (ts *testServer) awaitOpen(n int) {
	ts.t.Helper()
	for i := 0; ; i++ {
		ts.srv.mu.Lock()
		open := len(ts.srv.sessions)
		ts.srv.mu.Unlock()
		if open == n {
			return
		}
		if i == 500 {
			ts.t.Fatalf("%d sessions open, want %d", open, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitLog waits until the server's log shows want.
func (ts *testServer) awaitLog(want string) {
	ts.t.Helper()
	for i := 0; !strings.Contains(ts.logs.String(), want); i++ {
		if i == 500 {
			ts.t.Fatalf("the log never showed %q:\n%s", want, ts.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHandshakeTimeoutEndsATrickle: a client that sends its greeting a byte
// at a time, never finishing, is cut off by the handshake timeout; reading
// its bytes does not move the deadline.
func TestHandshakeTimeoutEndsATrickle(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	r := ts.dialRaw()
	if !strings.HasPrefix(r.banner, "SSH-2.0-") {
		t.Fatalf("greeting %q", r.banner)
	}
	// 100 bytes, 50 ms apart: 5 s of trickle, far past the timeout.
	trickle := "SSH-2.0-" + strings.Repeat("x", 92)
	for i := 0; i < len(trickle); i++ {
		select {
		case <-r.closed:
			ts.awaitLog("no login in time") // the server logs on its own time
			if n := ts.srv.Refusals().ByReason[RefusedHandshake]; n != 1 {
				t.Errorf("handshake timeouts counted: %d", n)
			}
			return
		case <-time.After(50 * time.Millisecond):
			r.Write([]byte{trickle[i]})
		}
	}
	t.Fatal("a trickle of bytes kept a connection open 5 s without logging in")
}

// TestUnauthenticatedConnectionsAreCapped: past the cap, a new connection is
// closed as soon as it is accepted, before any greeting; connections that
// logged in do not count, and a closed one frees its place.
func TestUnauthenticatedConnectionsAreCapped(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) {
		c.MaxUnauthenticated, c.EarlyDrop = 2, NoEarlyDrop // the hard bound alone
	})
	logged, err := ts.dial(alice) // logged in: holds no place
	if err != nil {
		t.Fatal(err)
	}
	defer logged.Close()
	r1, r2 := ts.dialRaw(), ts.dialRaw()
	if r1.banner == "" || r2.banner == "" {
		t.Fatalf("the first two were refused: %q %q", r1.banner, r2.banner)
	}
	if r3 := ts.dialRaw(); r3.banner != "" {
		t.Fatalf("a third connection not logged in was greeted: %q", r3.banner)
	}
	if c, err := ts.dial(alice); err == nil {
		c.Close()
		t.Fatal("a login got a place while two connections held them all")
	}
	if n := ts.srv.Refusals().ByReason[RefusedUnauthenticated]; n != 2 {
		t.Errorf("refusals counted: %d, want 2", n)
	}
	if !strings.Contains(ts.logs.String(), "too many not logged in") {
		t.Errorf("the log does not say why:\n%s", ts.logs.String())
	}

	r1.Close()
	<-r1.closed
	for i := 0; ; i++ { // the server notices the close on its own time
		c, err := ts.dial(alice)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("a freed place was never given again: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSessionsPerUserAndAdminSlots: viewers cannot take the sessions kept
// for admins, nobody opens more than their share, and a full server says
// so.
func TestSessionsPerUserAndAdminSlots(t *testing.T) {
	alice, victor, wendy := newUser(t, "Alice"), newUser(t, "Victor"), newUser(t, "Wendy")
	ts := startServerWith(t, t.TempDir(), []user{alice}, []user{victor, wendy}, func(c *Config) {
		c.MaxSessions, c.AdminSlots, c.MaxSessionsPerUser = 4, 2, 2
	})
	ts.open(victor).waitFor("API Scopes")
	ts.open(wendy).waitFor("API Scopes")
	ts.open(victor).waitFor("the last 2 sessions are kept for admins (2 open)")
	ts.open(alice).waitFor("API Scopes")
	ts.open(alice).waitFor("API Scopes")
	ts.open(alice).waitFor("the server is full (4 sessions open)")

	st := ts.srv.Refusals()
	if st.ByReason[RefusedAdminSlots] != 1 || st.ByReason[RefusedSessions] != 1 {
		t.Errorf("refusals: %+v", st)
	}
}

func TestSessionsPerUser(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) { c.MaxSessionsPerUser = 2 })
	first := ts.open(alice)
	first.waitFor("API Scopes")
	ts.open(alice).waitFor("API Scopes")
	ts.open(alice).waitFor("you have 2 sessions open, the most one person may")

	first.keys("q") // one closes; the next gets its place
	ts.awaitOpen(1)
	ts.open(alice).waitFor("API Scopes")
	if n := ts.srv.Refusals().ByReason[RefusedPerUser]; n < 1 {
		t.Errorf("per-user refusals counted: %d", n)
	}
}

// TestSessionLifetimeEndsCleanly: however busy, a session ends at its
// lifetime, with a message and the user's terminal handed back as it was.
func TestSessionLifetimeEndsCleanly(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) { c.MaxSessionTime = 500 * time.Millisecond })
	a := ts.open(alice)
	a.waitFor("API Scopes")
	a.keys("/", "x") // activity does not extend a lifetime
	s := a.waitFor("sessions last at most 500ms; connect again")
	raw := a.out.String()
	tail := raw[strings.LastIndex(raw, "\x1b[?1049h"):]
	for _, seq := range []string{"\x1b[?1049l", "\x1b[?25h"} {
		if !strings.Contains(tail, seq) {
			t.Errorf("the terminal was not restored (%q missing) before:\n%s", seq, s[max(0, len(s)-200):])
		}
	}
	if !strings.Contains(ts.logs.String(), "session time over") {
		t.Errorf("no lifetime in the log:\n%s", ts.logs.String())
	}
}
