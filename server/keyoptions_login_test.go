package server

import (
	"strings"
	"testing"
	"time"

	"apiscopes/store"
)

// TestFromOptionLimitsWhereAKeyWorks: a key whose from= does not match the
// client's address is refused at login, and the log names its line.
func TestFromOptionLimitsWhereAKeyWorks(t *testing.T) {
	alice, bob, carol := newUser(t, "Alice"), newUser(t, "Bob"), newUser(t, "Carol")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	writeLines(t, ts.admins, `from="10.0.0.0/8" `+alice.line(), `from="192.0.2.7,127.0.0.1" `+bob.line(),
		`from="*,!127.0.0.0/8" `+carol.line())
	for u, want := range map[user]bool{alice: false, bob: true, carol: false} {
		c, err := ts.dial(u)
		if (err == nil) != want {
			t.Errorf("%s from 127.0.0.1: %v", u.name, err)
		}
		if c != nil {
			c.Close()
		}
	}
	ts.awaitLog("auth refused: the key's from= option does not allow this address")
	if !strings.Contains(ts.logs.String(), "line="+ts.admins+":1") {
		t.Errorf("the log does not name the line:\n%s", ts.logs.String())
	}
	if n := ts.srv.Refusals().ByReason[RefusedFrom]; n < 2 {
		t.Errorf("from= refusals counted: %d", n)
	}
}

// TestExpiryTime: an expired key is refused at login; a session whose key
// expires while it is open is ended.
func TestExpiryTime(t *testing.T) {
	alice, bob := newUser(t, "Alice"), newUser(t, "Bob")
	clock := &stepClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) { c.Allow.now = clock.now; noWatch(c) })
	writeLines(t, ts.admins, `expiry-time="20260601"`+" "+alice.line(), `expiry-time="202606011300Z" `+bob.line())
	if c, err := ts.dial(alice); err == nil {
		c.Close()
		t.Fatal("an expired key got in")
	}
	ts.awaitLog("auth refused: the key expired at 2026-06-01T00:00:00")
	b := ts.open(bob)
	b.waitFor("API Scopes")
	ts.srv.Reload()
	clock.add(59 * time.Minute)
	ts.srv.enforce()
	clock.add(2 * time.Minute)
	ts.srv.enforce()
	b.waitFor("your access was revoked (the key expired at 2026-06-01T13:00:00Z")
	if n := ts.srv.Refusals().ByReason[RefusedExpired]; n < 1 {
		t.Errorf("expiry refusals counted: %d", n)
	}
}

// TestNoPTYOptions: a key listed with no-pty or restrict gets no console,
// and is told which option to add; restrict,pty gets one.
func TestNoPTYOptions(t *testing.T) {
	alice, bob, carol := newUser(t, "Alice"), newUser(t, "Bob"), newUser(t, "Carol")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	writeLines(t, ts.admins, "no-pty "+alice.line(), "restrict "+bob.line(), "restrict,pty "+carol.line())
	ts.open(alice).waitFor("your key is listed with no-pty, which allows no terminal, and the console needs one. " +
		"Ask an admin to add the pty option after no-pty on your key's line.")
	ts.open(bob).waitFor("Ask an admin to add the pty option after restrict on your key's line.")
	ts.open(carol).waitFor("API Scopes")
	ts.awaitLog("line=" + ts.admins + ":2")
	if n := ts.srv.Refusals().ByReason[RefusedNoPTY]; n != 2 {
		t.Errorf("no-pty refusals counted: %d", n)
	}
}

// TestLoginsAreAuditedAtABoundedRate: each key's logins reach the audit
// trail at most once a minute; the next event says how many were left out.
func TestLoginsAreAuditedAtABoundedRate(t *testing.T) {
	alice := newUser(t, "Alice")
	clock := &stepClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) { c.now = clock.now })
	for range 3 {
		ts.open(alice).waitFor("API Scopes")
	}
	clock.add(time.Minute)
	ts.open(alice).waitFor("API Scopes")

	events, _ := ts.st.Audit(t.Context())
	var logins []store.Event
	for _, ev := range events {
		if ev.Action == store.ActionSessionLogin {
			logins = append(logins, ev)
		}
	}
	if len(logins) != 2 || logins[0].Session.Unrecorded != 2 || logins[1].Session.Unrecorded != 0 {
		t.Fatalf("login events %+v", logins)
	}
	if s := logins[1].Session; s.User != "Alice" || s.Role != store.Admin || !strings.HasPrefix(s.Remote, "127.0.0.1:") ||
		!strings.HasPrefix(s.Key, "SHA256:") || logins[1].Actor != store.SystemActor.Name {
		t.Errorf("login event %+v %+v", logins[1], s)
	}
}
