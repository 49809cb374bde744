package server

import (
	"slices"
	"strings"
	"testing"
	_ "time/tzdata" // Asia/Tokyo, whatever the machine has installed
)

// TestSessionEnvKeepsOnlyTZ: of what a client sends, only TZ reaches the
// console, beside the terminal type of its PTY.
func TestSessionEnvKeepsOnlyTZ(t *testing.T) {
	sent := []string{"NO_COLOR=1", "COLORTERM=truecolor", "LANG=C", "TZ=Asia/Tokyo", "TERM=other", "PATH=/x"}
	got := sessionEnv("xterm-256color", sent)
	if want := []string{"TERM=xterm-256color", "TZ=Asia/Tokyo"}; !slices.Equal(got, want) {
		t.Errorf("sessionEnv = %q, want %q", got, want)
	}
	if got := sessionEnv("xterm", []string{"LANG=C"}); !slices.Equal(got, []string{"TERM=xterm"}) {
		t.Errorf("sessionEnv without TZ = %q", got)
	}
}

// TestSessionShowsTimesInTheClientsZone: a client that sends TZ sees every
// time in its zone, with the offset; one that does not sees UTC.
func TestSessionShowsTimesInTheClientsZone(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	tokyo := ts.openEnv(alice, []string{"TZ", "Asia/Tokyo", "NO_COLOR", "1"})
	tokyo.createApp("Payments")
	tokyo.keys("\t", "\r", "y") // Done, yes without a key
	tokyo.waitFor("Create an App")
	tokyo.keys("a")
	s := tokyo.waitFor("+09:00")
	if strings.Contains(s, " UTC") {
		t.Errorf("a time over SSH with TZ=Asia/Tokyo is in UTC:\n%s", s)
	}
	utc := ts.open(alice)
	utc.keys("a")
	utc.waitFor(" UTC")
}
