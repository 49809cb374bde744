package server

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
)

// run runs a command as u, without a terminal, and returns its output and
// exit status.
func (ts *testServer) run(u user, command string) (string, int) {
	ts.t.Helper()
	client, err := ts.dial(u)
	if err != nil {
		ts.t.Fatalf("%s: %v", u.name, err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		ts.t.Fatal(err)
	}
	out, err := sess.CombinedOutput(command)
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitStatus()
	} else if err != nil {
		ts.t.Fatal(err)
	}
	return string(out), 0
}

// testCommands stands in for the command tree (package cli) in this
// package's tests: it lists the open sessions for admins, and knows no
// other command.
func testCommands(_ context.Context, c CommandCall) int {
	switch {
	case len(c.Args) != 1 || c.Args[0] != "sessions":
		fmt.Fprintf(c.Stderr, "unknown command %q; the commands are sessions\n", strings.Join(c.Args, " "))
		return 2
	case c.Actor.Role != store.Admin:
		fmt.Fprintln(c.Stderr, "only admins may list the open sessions")
		return 1
	}
	c.Sessions(c.Stdout)
	return 0
}

// TestAdminsListOpenSessions: `ssh HOST sessions` shows an admin who is
// connected, as what, from where and since when; viewers may not ask, and
// an unknown command is refused with what there is.
func TestAdminsListOpenSessions(t *testing.T) {
	alice, bob, victor := newUser(t, "Alice"), newUser(t, "Bob"), newUser(t, "Victor")
	ts := startServer(t, t.TempDir(), []user{alice, bob}, []user{victor})
	out, code := ts.run(bob, "sessions")
	if code != 0 || !strings.Contains(out, "Bob") || !strings.Contains(out, "sessions") {
		t.Fatalf("with only Bob's own command open: %d %q", code, out)
	}
	ts.open(alice).waitFor("API Scopes")
	ts.open(victor).waitFor("API Scopes")

	out, code = ts.run(bob, "sessions")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !regexp.MustCompile(`^USER\s+ROLE\s+FROM\s+SINCE\s+FOR\s+RUNS\s+KEY$`).MatchString(lines[0]) {
		t.Fatalf("sessions: %d\n%s", code, out)
	}
	row := regexp.MustCompile(`^(\w+)\s+(admin|viewer)\s+127\.0\.0\.1:\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+\d+s\s+(console|sessions)\s+SHA256:\S+$`)
	for i, want := range []string{"Alice admin", "Victor viewer", "Bob admin"} {
		m := row.FindStringSubmatch(lines[i+1])
		if m == nil || m[1]+" "+m[2] != want {
			t.Errorf("row %d: %q, want %s", i+1, lines[i+1], want)
		}
	}
	if !strings.Contains(lines[1], gossh.FingerprintSHA256(alice.signer.PublicKey())) {
		t.Errorf("Alice's row lacks her key: %q", lines[1])
	}

	if out, code := ts.run(victor, "sessions"); code != 1 || !strings.Contains(out, "only admins may list the open sessions") {
		t.Errorf("a viewer asked: %d %q", code, out)
	}
	if out, code := ts.run(bob, "rm -rf /"); code != 2 || !strings.Contains(out, `unknown command "rm -rf /"`) {
		t.Errorf("unknown command: %d %q", code, out)
	}
	ts.awaitLog(`command user=Bob role=admin`)
}

// TestRestrictedKeyCanListSessions: a key listed with restrict gets no
// console but may run a command, which needs no terminal.
func TestRestrictedKeyCanListSessions(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	writeLines(t, ts.admins, "restrict "+alice.line())
	if out, code := ts.run(alice, "sessions"); code != 0 || !strings.HasPrefix(out, "USER") {
		t.Errorf("%d %q", code, out)
	}
}
