package server

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"charm.land/log/v2"
)

// stepClock is a clock that moves only when told.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func addr(host string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(host), Port: 40000} }

// TestRefusalLogIsSampled: one source gets perSource lines a second, all
// sources together total; the rest are counted, and the next line logged
// says how many were left out since the one before.
func TestRefusalLogIsSampled(t *testing.T) {
	var buf syncBuffer
	clock := &stepClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := newRefusalLog(log.New(&buf), 2, 5, clock.now)
	for range 100 {
		r.refuse(RefusedKey, addr("192.0.2.1"), "auth refused")
	}
	if got := strings.Count(buf.String(), "auth refused"); got != 2 {
		t.Fatalf("one source logged %d lines in a second, want 2", got)
	}
	for i := range 100 {
		r.refuse(RefusedKey, addr(fmt.Sprintf("198.51.100.%d", i)), "auth refused")
	}
	if got := strings.Count(buf.String(), "auth refused"); got != 5 {
		t.Fatalf("%d lines in a second, want 5 in all", got)
	}
	st := r.Stats()
	if st.Total != 200 || st.Logged != 5 || st.Suppressed != 195 || st.ByReason[RefusedKey] != 200 {
		t.Fatalf("stats %+v", st)
	}

	clock.add(time.Second)
	r.refuse(RefusedFrom, addr("192.0.2.1"), "login refused")
	if !strings.Contains(buf.String(), "not_logged_before=97") {
		t.Fatalf("the next second's line does not say what was left out:\n%s", buf.String())
	}
	st.ByReason[RefusedFrom] = 99 // a copy: the log's counts are its own
	if r.Stats().ByReason[RefusedFrom] != 1 {
		t.Fatal("Stats shares its map")
	}
}

// TestRefusedLoginsAreSampledInTheLog: a script hammering the server with
// an unknown key fills a counter, not the log.
func TestRefusedLoginsAreSampledInTheLog(t *testing.T) {
	alice, eve := newUser(t, "Alice"), newUser(t, "Eve")
	clock := &stepClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) {
		c.LogPerSource, c.LogTotal, c.now = 3, 10, clock.now
	})
	for range 10 {
		if c, err := ts.dial(eve); err == nil {
			c.Close()
			t.Fatal("Eve got in")
		}
	}
	if got := strings.Count(ts.logs.String(), "auth refused"); got != 3 {
		t.Errorf("%d lines for one source in one second, want 3:\n%s", got, ts.logs.String())
	}
	if st := ts.srv.Refusals(); st.ByReason[RefusedKey] < 10 || st.Suppressed < 7 {
		t.Errorf("stats %+v", st)
	}
}
