package lograte

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestLimiter: at most perSource lines a second from one source and total
// in all; the next second starts afresh, and its first line hears how many
// were held back.
func TestLimiter(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	l := New(2, 5, c.now)
	let := func(source string, n int) (through int, told uint64) {
		for range n {
			if ok, left := l.Allow(source); ok {
				through++
				told += left
			}
		}
		return through, told
	}
	if got, _ := let("192.0.2.1", 10); got != 2 {
		t.Errorf("one source: %d lines, want 2", got)
	}
	got, told := 0, uint64(0)
	for i := range 10 {
		n, left := let(fmt.Sprintf("192.0.2.%d", 2+i), 1)
		got, told = got+n, told+left
	}
	if got != 3 || told != 8 {
		t.Errorf("many sources: %d more lines, told of %d held back; want 3 (5 in all) and 8", got, told)
	}
	c.t = c.t.Add(time.Second)
	if n, left := let("192.0.2.1", 1); n != 1 || left != 7 {
		t.Errorf("the next second: %d lines, told of %d held back; want 1 and 7", n, left)
	}
	if l.Logged() != 6 || l.Suppressed() != 15 {
		t.Errorf("counts: %d logged, %d held back; want 6 and 15", l.Logged(), l.Suppressed())
	}
}

// TestLimiterUnbounded: zero means no bound, except on the sources one
// second remembers.
func TestLimiterUnbounded(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	l := New(0, 0, c.now)
	for i := range maxSources + 10 {
		ok, _ := l.Allow(fmt.Sprint(i))
		if want := i < maxSources; ok != want {
			t.Fatalf("source %d: %v, want %v", i, ok, want)
		}
	}
	for range 100 {
		if ok, _ := l.Allow("0"); !ok {
			t.Fatal("a known source was held back with no bound")
		}
	}
}

func TestSource(t *testing.T) {
	for in, want := range map[string]string{"192.0.2.1:4000": "192.0.2.1", "[2001:db8::1]:22": "2001:db8::1", "pipe": "pipe"} {
		if got := Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}
