package server

import (
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// sizes collects every terminal size the sessions' consoles are given.
func sizes(c *Config) chan TermSize {
	ch := make(chan TermSize, 64)
	c.sizeSeen = func(t TermSize) {
		select {
		case ch <- t:
		default:
		}
	}
	return ch
}

// awaitSize waits until the console has been given want.
func awaitSize(t *testing.T, ch <-chan TermSize, want TermSize) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var seen []TermSize
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
			seen = append(seen, got)
		case <-deadline:
			t.Fatalf("the console was never given %v; it got %v", want, seen)
		}
	}
}

// TestHugeTerminalIsDrawnAtTheCap: a client asking for a terminal of
// 100000×100000 or 2³¹−1 squared cells, first in its PTY request and then in
// a window change, gets a console of the configured maximum instead of one
// the server would run out of memory drawing.
func TestHugeTerminalIsDrawnAtTheCap(t *testing.T) {
	for _, huge := range []int{100_000, 1<<31 - 1} {
		alice := newUser(t, "Alice")
		var seen chan TermSize
		limit := TermSize{Width: 160, Height: 50}
		ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) {
			seen = sizes(c)
			c.MaxPTY = limit
		})
		client, err := ts.dial(alice)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.RequestPty("xterm-256color", huge, huge, gossh.TerminalModes{gossh.ECHO: 0}); err != nil {
			t.Fatal(err)
		}
		if err := sess.Shell(); err != nil {
			t.Fatal(err)
		}
		awaitSize(t, seen, limit)

		if err := sess.WindowChange(24, 80); err != nil {
			t.Fatal(err)
		}
		awaitSize(t, seen, TermSize{Width: 80, Height: 24}) // an ordinary size passes as it is
		if err := sess.WindowChange(huge, huge); err != nil {
			t.Fatal(err)
		}
		awaitSize(t, seen, limit)
		if err := sess.WindowChange(huge, 120); err != nil {
			t.Fatal(err)
		}
		awaitSize(t, seen, TermSize{Width: 120, Height: limit.Height}) // each side on its own
		sess.Close()
		client.Close()
	}
}

func TestParseTermSize(t *testing.T) {
	for in, want := range map[string]TermSize{"500x200": {500, 200}, " 80X24 ": {80, 24}, "1x1": {1, 1}} {
		if got, err := ParseTermSize(in); err != nil || got != want {
			t.Errorf("ParseTermSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "500", "0x200", "500x-1", "ax b", "500x200x3"} {
		if got, err := ParseTermSize(in); err == nil {
			t.Errorf("ParseTermSize(%q) = %v, want an error", in, got)
		}
	}
}
