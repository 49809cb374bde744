package server

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"
)

// showKey makes an app and a key through the console: the key is shown
// once, on screen, and stays there until Copy and Close is pressed.
func (tm *terminal) showKey(app, key string) {
	tm.t.Helper()
	tm.createApp(app)
	tm.keys("\r") // Create API Key
	tm.waitFor("Create new API key")
	tm.keys(key, "\r") // Generate Key
	tm.waitFor("Copy and Close")
}

// TestIdleKeepsASessionWithAKeyOnScreen: a key shown once keeps an idle
// session open (ending it would lose the key), and its connection too,
// past the connection's own idle limit; once the key is closed the idle
// timeout ends the session as ever.
func TestIdleKeepsASessionWithAKeyOnScreen(t *testing.T) {
	alice := newUser(t, "Alice")
	held := make(chan struct{}, 8)
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) {
		c.IdleTimeout = time.Second
		c.backstopSlack = 300 * time.Millisecond // the connection's limit: 1.3 s without traffic
		c.idleHeld = func() { held <- struct{}{} }
	})
	a := ts.open(alice)
	a.showKey("Billing", "billing-prod")
	for range 3 { // three whole idle periods go by with the key on screen, past the connection's limit
		select {
		case <-held:
		case <-time.After(10 * time.Second):
			t.Fatal("the idle clock never came to a session with a key on screen")
		}
	}
	ts.awaitOpen(1)
	if s := a.out.String(); strings.Contains(s, "disconnected") {
		t.Fatalf("the session ended with a key on screen:\n%s", s)
	}
	a.keys("\r") // Copy and Close: sent with OSC 52, the key stays until closed
	a.waitFor("Sent to your terminal with OSC 52")
	a.keys("\r") // Close
	a.waitFor("disconnected after 1s without a keystroke")
}

// TestSessionEndedWithAKeyOnScreenSaysSo: a session's lifetime ends it even
// with a key on screen, and the goodbye names the key (by its hint) as not
// copied; a key sent with OSC 52 is said to be sent.
func TestSessionEndedWithAKeyOnScreenSaysSo(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) { c.MaxSessionTime = 12 * time.Hour })
	a := ts.open(alice)
	a.showKey("Billing", "billing-prod")
	ts.endAll(endLifetime) // as the lifetime's clock does
	s := a.waitFor("connect again to go on.")
	flat := strings.Join(strings.Fields(s[strings.LastIndex(s, "apiscopes: sessions"):]), " ")
	if !strings.Contains(flat, `The API key "billing-prod" (aps_…`) || !strings.Contains(flat, `of "Billing" was on screen and not copied`) {
		t.Errorf("the goodbye does not say the key was not copied: %q", flat)
	}
	if keyShaped.MatchString(s[strings.LastIndex(s, "apiscopes: sessions"):]) {
		t.Errorf("the goodbye holds the key's text: %q", flat)
	}

	b := ts.open(alice)
	b.showKey("Payroll", "payroll-prod")
	b.keys("\r")
	b.waitFor("Sent to your terminal with OSC 52")
	ts.endAll(endLifetime)
	s = b.waitFor("connect again to go on.")
	if flat := strings.Join(strings.Fields(s[strings.LastIndex(s, "apiscopes: sessions"):]), " "); !strings.Contains(flat, "was sent to your terminal with OSC 52") {
		t.Errorf("the goodbye does not say the key was sent: %q", flat)
	}
}

// endAll ends every open session for reason, as the server's clocks do.
func (ts *testServer) endAll(reason string) {
	ts.srv.mu.Lock()
	open := slices.Collect(maps.Keys(ts.srv.sessions))
	ts.srv.mu.Unlock()
	for _, o := range open {
		o.end(reason)
	}
}

// keyShaped is the text of an API key.
var keyShaped = regexp.MustCompile(`aps_[0-9A-Za-z]{49}`)

// exitStatus waits for the session to end and returns its exit status.
func (tm *terminal) exitStatus() int {
	tm.t.Helper()
	err := tm.sess.Wait()
	var exit *gossh.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitStatus()
	}
	tm.t.Fatalf("the session ended without a status: %v", err)
	return -1
}

// TestSmallTerminalOverSSH: over SSH as locally, a terminal below the
// minimum gets the message, keys typed there act on nothing, and ctrl+c
// does not quit while a key is on screen.
func TestSmallTerminalOverSSH(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	a := ts.open(alice)
	a.showKey("Billing", "billing-prod")
	if err := a.sess.WindowChange(10, 40); err != nil {
		t.Fatal(err)
	}
	a.waitFor("Terminal too small")
	a.keys("\x03", "\x03", "\x1b", "\r") // ctrl+c twice, esc, enter: none acts
	mark := len(a.out.String())
	if err := a.sess.WindowChange(30, 110); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(ansi.Strip(a.out.String()[mark:]), "Copy and Close"); {
		if time.Now().After(deadline) {
			t.Fatalf("the key dialog is not back at 110×30:\n%s", ansi.Strip(a.out.String()[mark:]))
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.awaitOpen(1)
	apps, err := ts.st.Apps(t.Context())
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps = %v, %v", apps, err)
	}
	if keys, err := ts.st.Keys(t.Context(), apps[0].ID); err != nil || len(keys) != 1 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
}
