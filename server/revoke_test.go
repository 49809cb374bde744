package server

import (
	"os"
	"strings"
	"testing"
	"time"

	"apiscopes/store"
)

// noWatch stops open sessions from following the allow-lists on their own,
// so a test can look at the moment between a change being in force and the
// server acting on it.
func noWatch(c *Config) { c.pollEvery = time.Hour }

// TestRevokedAdminSessionEnds: removing an admin's key from the allow-list
// ends their open session within seconds, with a message and their
// terminal restored, and the audit trail says so; others carry on.
func TestRevokedAdminSessionEnds(t *testing.T) {
	alice, bob := newUser(t, "Alice"), newUser(t, "Bob")
	ts := startServer(t, t.TempDir(), []user{alice, bob}, nil)
	a, b := ts.open(alice), ts.open(bob)
	a.waitFor("API Scopes")
	b.waitFor("API Scopes")

	writeList(t, ts.admins, bob)
	s := a.waitFor("your access was revoked (your key is no longer on the allow-list)")
	raw := a.out.String()
	if tail := raw[strings.LastIndex(raw, "\x1b[?1049h"):]; !strings.Contains(tail, "\x1b[?1049l") {
		t.Errorf("the terminal was not restored before:\n%s", s[max(0, len(s)-200):])
	}
	if status := a.exitStatus(); status != 1 {
		t.Errorf("a revoked session exits %d, want 1", status)
	}
	ts.awaitOpen(1)
	b.createApp("Still here") // Bob's session is untouched
	ts.awaitLog("session ended: access revoked")

	events, _ := ts.st.Audit(t.Context())
	var revoked, logins int
	for _, ev := range events {
		switch ev.Action {
		case store.ActionSessionRevoked:
			revoked++
			if ev.Actor != store.SystemActor.Name || ev.Session.User != "Alice" || ev.Session.Role != store.Admin ||
				!strings.Contains(ev.Session.Reason, "no longer on the allow-list") {
				t.Errorf("revocation event %+v %+v", ev, ev.Session)
			}
		case store.ActionSessionLogin:
			logins++
		}
	}
	if revoked != 1 || logins != 2 {
		t.Errorf("%d revocations and %d logins in the audit trail, want 1 and 2", revoked, logins)
	}
}

// TestRevokedSessionCannotWriteBeforeItEnds: once a revocation is in force,
// the store refuses the session's changes even if the server has not yet
// ended the session.
func TestRevokedSessionCannotWriteBeforeItEnds(t *testing.T) {
	alice, bob := newUser(t, "Alice"), newUser(t, "Bob")
	ts := startServerWith(t, t.TempDir(), []user{alice, bob}, nil, noWatch)
	a := ts.open(alice)
	a.waitFor("API Scopes")
	writeList(t, ts.admins, bob)
	if changed, _, err := ts.srv.cfg.Allow.Reload(); !changed || err != nil { // in force; no session ended
		t.Fatalf("reload: %v %v", changed, err)
	}

	a.keys("n")
	a.waitFor("Untitled app")
	a.keys("Payments", "\t", " ", "\x13")
	a.waitFor("may no longer make changes")
	if apps, _ := ts.st.Apps(t.Context()); len(apps) != 0 {
		t.Fatalf("a revoked admin created %+v", apps)
	}
}

// TestDemotedSessionBecomesReadOnly: moving an admin to the viewers turns
// their open session read-only: the store refuses its changes at once, and
// the console reopens as a viewer's.
func TestDemotedSessionBecomesReadOnly(t *testing.T) {
	alice, bob := newUser(t, "Alice"), newUser(t, "Bob")
	ts := startServerWith(t, t.TempDir(), []user{alice, bob}, nil, noWatch)
	a := ts.open(alice)
	a.waitFor("Alice (admin)")
	writeList(t, ts.admins, bob)
	writeList(t, ts.viewers, alice)
	if changed, _, err := ts.srv.cfg.Allow.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	a.keys("n") // the console still offers it; the store refuses
	a.waitFor("Untitled app")
	a.keys("Payments", "\t", " ", "\x13")
	a.waitFor("Alice is now a viewer; only admins can make changes")

	ts.srv.enforce() // what the watch does every second
	a.waitFor("you are now a viewer: the console reopens read-only")
	a.waitFor("Alice (viewer)")
	a.keys("n")
	a.waitFor("viewers can't create apps")
	if apps, _ := ts.st.Apps(t.Context()); len(apps) != 0 {
		t.Fatalf("a demoted admin created %+v", apps)
	}
	ts.awaitLog("session made read-only: now a viewer")
}

// TestUnusableAllowListKeepsTheLastGoodOne: an allow-list that disappears
// or is opened to others changes nothing for open sessions; the log says
// why, once.
func TestUnusableAllowListKeepsTheLastGoodOne(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	a := ts.open(alice)
	a.waitFor("API Scopes")

	os.Remove(ts.admins)
	ts.awaitLog("keeping the allow-list in force")
	a.createApp("Payments") // still an admin
	if strings.Count(ts.logs.String(), "keeping the allow-list in force") != 1 {
		t.Errorf("the problem was not logged exactly once:\n%s", ts.logs.String())
	}

	writeList(t, ts.admins, alice)
	os.Chmod(ts.admins, 0o666)
	ts.awaitLog("fix: chmod go-w " + ts.admins)
	a.keys("\t", "\r", "y", "n") // Done (yes, without a key), back to the list, and a new app
	a.keys("Billing", "\t", " ", "\x13")
	for i := 0; ; i++ { // the screen redraws only what changed: ask the store
		if apps, _ := ts.st.Apps(t.Context()); len(apps) == 2 {
			break
		}
		if i == 500 {
			t.Fatal("the second app was never created")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
