package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"apiscopes/store"
)

// writeLines writes an allow-list of the given lines.
func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\n")
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// keyText is a user's key without a comment: "ssh-ed25519 AAAA…".
func (u user) keyText() string {
	return strings.TrimSuffix(strings.TrimSuffix(u.line(), "\n"), " "+u.name)
}

// TestAllowListChangesOnlyWhenTwoReadsAgree: `cat new > admins` leaves the
// file empty for a moment, and an editor's save may leave it missing or
// half written; open sessions follow a change only once two reads at least
// a second apart agree, so none of those moments ends anyone's session.
func TestAllowListChangesOnlyWhenTwoReadsAgree(t *testing.T) {
	dir := t.TempDir()
	alice, bob := newUser(t, "Alice"), newUser(t, "Bob")
	admins := filepath.Join(dir, "admins")
	writeList(t, admins, alice, bob)
	a, err := NewAllowList(admins, "")
	if err != nil {
		t.Fatal(err)
	}
	clock := &stepClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a.now = clock.now
	_, gen, _ := a.Login(alice.signer.PublicKey(), addr("192.0.2.1"))
	standing := func(u user) error {
		_, err := a.Standing(u.signer.PublicKey(), addr("192.0.2.1"), gen, Entry{Person: Person{u.name, store.Admin}})
		return err
	}
	poll := func(want bool) {
		t.Helper()
		if changed, _ := a.Poll(); changed != want {
			t.Fatalf("at %s: changed = %v, want %v", clock.now().Format("15:04:05.000"), changed, want)
		}
	}

	os.WriteFile(admins, nil, 0o600) // truncated, about to be written
	poll(false)
	clock.add(500 * time.Millisecond)
	poll(false)
	writeList(t, admins, alice, bob) // written back as it was: nothing happened
	clock.add(600 * time.Millisecond)
	poll(false)
	os.WriteFile(admins, nil, 0o600)
	clock.add(600 * time.Millisecond)
	poll(false) // empty again: a new state, whose second starts now
	writeList(t, admins, bob)
	clock.add(900 * time.Millisecond)
	poll(false)
	if standing(alice) != nil {
		t.Fatal("Alice lost her standing before the change settled")
	}
	clock.add(200 * time.Millisecond)
	poll(false) // 200 ms since the final state was first read
	clock.add(800 * time.Millisecond)
	poll(true)
	if err := standing(alice); err == nil || !strings.Contains(err.Error(), "no longer on the allow-list") {
		t.Fatalf("Alice after the change: %v", err)
	}
	if err := standing(bob); err != nil {
		t.Fatalf("Bob after the change: %v", err)
	}
	if a.gen != 1 {
		t.Fatalf("%d lists were put in force, want 1", a.gen)
	}
}

// TestAllowListStartUpIsStrictReloadSkips: a line apiscopes cannot honour
// (an option it does not implement, no comment to name the person) stops
// the server from starting, naming the file, line and option; on a reload
// that line alone is left out, with a warning.
func TestAllowListStartUpIsStrictReloadSkips(t *testing.T) {
	dir := t.TempDir()
	alice, bob, carol := newUser(t, "Alice"), newUser(t, "Bob"), newUser(t, "Carol")
	admins := filepath.Join(dir, "admins")
	for _, tt := range []struct {
		line, want string
	}{
		{`environment="PATH=/tmp" ` + bob.line(), admins + `:2: refused: option environment="PATH=/tmp" is not supported`},
		{`command="" ` + bob.line(), admins + `:2: refused: command="" runs nothing`},
		{`permitopen="localhost:80" ` + bob.line(), admins + `:2: refused: option permitopen="localhost:80" is not supported`},
		{`from="192.0.2.1/24" ` + bob.line(), admins + `:2: refused: from= pattern "192.0.2.1/24" has bits set beyond its mask`},
		{bob.keyText(), admins + ":2: refused: the key has no comment to name its person"},
		{bob.keyText() + " Bob\x1b[31m", admins + ":2: refused: the key's comment cannot name a person"},
		{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH", admins + ":2: not a public key"},
	} {
		writeLines(t, admins, alice.line(), tt.line)
		if _, err := NewAllowList(admins, ""); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("start-up with %q: %v\nwant %q", tt.line, err, tt.want)
		}
	}

	writeList(t, admins, alice)
	a, err := NewAllowList(admins, "")
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, admins, alice.line(), `environment="PATH=/tmp" `+bob.line(), carol.keyText(), `restrict,pty `+carol.line())
	changed, problems, err := a.Reload()
	if !changed || err != nil || len(problems) != 2 {
		t.Fatalf("reload: %v %v %v", changed, problems, err)
	}
	if !strings.Contains(problems[0].Error(), `:2: refused: option environment="PATH=/tmp" is not supported`) ||
		!strings.Contains(problems[1].Error(), ":3: refused: the key has no comment") {
		t.Errorf("problems: %v", problems)
	}
	for u, want := range map[user]bool{alice: true, bob: false, carol: true} {
		if _, _, err := a.Login(u.signer.PublicKey(), addr("192.0.2.1")); (err == nil) != want {
			t.Errorf("%s after the reload: %v", u.name, err)
		}
	}
}

// TestAllowListRefusesFilesOthersCanWrite: as sshd's StrictModes, a file
// group or others can write, or one in a folder everyone can write
// without the sticky bit, is refused, naming the command that fixes it.
func TestAllowListRefusesFilesOthersCanWrite(t *testing.T) {
	dir := t.TempDir()
	alice := newUser(t, "Alice")
	admins := filepath.Join(dir, "admins")
	writeList(t, admins, alice)
	for mode, want := range map[os.FileMode]string{
		0o620: "writable by group or others (mode 0620)",
		0o602: "writable by group or others (mode 0602)",
	} {
		os.Chmod(admins, mode)
		if _, err := NewAllowList(admins, ""); err == nil || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "fix: chmod go-w "+admins) {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	os.Chmod(admins, 0o644)
	if _, err := NewAllowList(admins, ""); err != nil {
		t.Fatalf("a file others can only read: %v", err)
	}

	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777) // whatever the umask
	inOpen := filepath.Join(open, "admins")
	writeList(t, inOpen, alice)
	if _, err := NewAllowList(inOpen, ""); err == nil || !strings.Contains(err.Error(), "fix: chmod o-w "+open) {
		t.Errorf("in a folder everyone can write: %v", err)
	}
	os.Chmod(open, 0o777|os.ModeSticky) // as /tmp
	if _, err := NewAllowList(inOpen, ""); err != nil {
		t.Errorf("in a sticky folder: %v", err)
	}
}

// TestHostKeyOthersCanReadIsRefused: the server does not start with a
// host private key that group or others can read.
func TestHostKeyOthersCanReadIsRefused(t *testing.T) {
	dir := t.TempDir()
	alice := newUser(t, "Alice")
	first := startServer(t, dir, []user{alice}, nil) // makes the key, private
	first.shutdown()
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		os.Chmod(first.hostKey, mode)
		_, err := NewSSH(first.st, Config{HostKeyPath: first.hostKey, Allow: first.srv.cfg.Allow})
		if err == nil || !strings.Contains(err.Error(), "fix: chmod 600 "+first.hostKey) {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	os.Chmod(first.hostKey, 0o600)
	if _, err := NewSSH(first.st, Config{HostKeyPath: first.hostKey, Allow: first.srv.cfg.Allow}); err != nil {
		t.Fatal(err)
	}
}
