package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"charm.land/log/v2"
	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// testServer is a real SSH server on a loopback port, with its allow-list
// files and database in a temporary folder.
type testServer struct {
	t        testing.TB
	dir      string
	st       *store.Store
	srv      *SSH
	addr     string
	admins   string
	viewers  string
	hostKey  string
	logs     *syncBuffer
	shutdown func()

	keepOutput bool // consoles opened with console keep all they write
}

type user struct {
	name   string
	signer gossh.Signer
}

func newUser(t testing.TB, name string) user {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return user{name: name, signer: signer}
}

// line is the user's authorized_keys line, its comment naming them.
func (u user) line() string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(u.signer.PublicKey()))) + " " + u.name + "\n"
}

func writeList(t testing.TB, path string, users ...user) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# apiscopes allow-list\n")
	for _, u := range users {
		b.WriteString(u.line())
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startServer(t *testing.T, dir string, admins, viewers []user) *testServer {
	t.Helper()
	return startServerWith(t, dir, admins, viewers, nil)
}

// startServerWith is startServer with a chance to change the configuration.
func startServerWith(t testing.TB, dir string, admins, viewers []user, configure func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: dir, admins: filepath.Join(dir, "admins"), viewers: filepath.Join(dir, "viewers"),
		hostKey: filepath.Join(dir, "host_ed25519"), logs: &syncBuffer{}}
	writeList(t, ts.admins, admins...)
	writeList(t, ts.viewers, viewers...)
	st, err := bolt.OpenStore(filepath.Join(dir, "apiscopes.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts.st = st
	allow, err := NewAllowList(ts.admins, ts.viewers)
	if err != nil {
		t.Fatal(err)
	}
	allow.settle = 100 * time.Millisecond // the real second, shortened: two reads must still agree
	cfg := Config{HostKeyPath: ts.hostKey, Allow: allow, MaxSessions: 8, Log: log.New(ts.logs), pollEvery: 20 * time.Millisecond,
		Commands: testCommands}
	if configure != nil {
		configure(&cfg)
	}
	ts.srv, err = NewSSH(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	served := make(chan struct{})
	go func() { defer close(served); ts.srv.Serve(ln) }()
	var once sync.Once
	ts.shutdown = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ts.srv.Shutdown(ctx)
			<-served
			st.Close()
		})
	}
	t.Cleanup(ts.shutdown)
	return ts
}

func (ts *testServer) dial(u user, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	if len(auth) == 0 {
		auth = []gossh.AuthMethod{gossh.PublicKeys(u.signer)}
	}
	return gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{
		User: u.name, Auth: auth, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
	})
}

// terminal is an interactive session with a PTY, as `ssh -t` opens.
type terminal struct {
	t      testing.TB
	client *gossh.Client
	sess   *gossh.Session
	in     io.WriteCloser
	out    *syncBuffer
}

func (ts *testServer) open(u user) *terminal {
	ts.t.Helper()
	return ts.openEnv(u, nil)
}

// openEnv is open with environment variables sent first, as ssh -o
// SendEnv=… sends them (name, value, name, value…).
func (ts *testServer) openEnv(u user, env []string) *terminal {
	ts.t.Helper()
	client, err := ts.dial(u)
	if err != nil {
		ts.t.Fatalf("%s: dial: %v", u.name, err)
	}
	sess, err := client.NewSession()
	if err != nil {
		ts.t.Fatal(err)
	}
	term := &terminal{t: ts.t, client: client, sess: sess, out: &syncBuffer{}}
	sess.Stdout, sess.Stderr = term.out, term.out
	if term.in, err = sess.StdinPipe(); err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(env); i += 2 {
		if err := sess.Setenv(env[i], env[i+1]); err != nil {
			ts.t.Fatal(err)
		}
	}
	if err := sess.RequestPty("xterm-256color", 30, 110, gossh.TerminalModes{gossh.ECHO: 0}); err != nil {
		ts.t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { sess.Close(); client.Close() })
	return term
}

// keys types into the session, a little apart so that each is its own read.
func (tm *terminal) keys(ks ...string) {
	for _, k := range ks {
		if _, err := io.WriteString(tm.in, k); err != nil {
			tm.t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// waitFor waits until the session's screen output shows want.
func (tm *terminal) waitFor(want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := ansi.Strip(tm.out.String())
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the session never showed %q; it showed:\n%s", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createApp makes an app through the console, as a person would.
func (tm *terminal) createApp(name string) {
	tm.waitFor("API Scopes")
	tm.keys("n")
	tm.waitFor("Untitled app")
	tm.keys(name, "\t", " ", "\x13") // name, to the scopes, tick the first, ctrl+s
	tm.waitFor("created.")
}

func TestAdminChangeShowsInAnotherSession(t *testing.T) {
	alice, bob := newUser(t, "Alice"), newUser(t, "Bob")
	ts := startServer(t, t.TempDir(), []user{alice, bob}, nil)
	a, b := ts.open(alice), ts.open(bob)
	b.waitFor("No API apps yet")
	a.createApp("Payments")
	b.waitFor("Payments") // without a keystroke in b

	apps, err := ts.st.Apps(t.Context())
	if err != nil || len(apps) != 1 || apps[0].CreatedBy != "Alice" {
		t.Fatalf("store: %+v, %v", apps, err)
	}
	events, _ := ts.st.Audit(t.Context())
	if o := events[0].Origin; !strings.HasPrefix(o, "ssh 127.0.0.1:") || !strings.Contains(o, gossh.FingerprintSHA256(alice.signer.PublicKey())) {
		t.Errorf("audit origin = %q, want the remote address and key fingerprint", o)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "connect") || strings.Contains(logs, "aps_") {
		t.Errorf("server log:\n%s", logs)
	}
}

func TestUnknownKeyAndPasswordAreRefused(t *testing.T) {
	alice, eve := newUser(t, "Alice"), newUser(t, "Eve")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	if _, err := ts.dial(eve); err == nil {
		t.Fatal("an unlisted key got in")
	}
	if _, err := ts.dial(alice, gossh.Password("hunter2")); err == nil {
		t.Fatal("a password got in")
	}
	if _, err := ts.dial(alice, gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
		return []string{"hunter2"}, nil
	})); err == nil {
		t.Fatal("keyboard-interactive got in")
	}
	if !strings.Contains(ts.logs.String(), "auth refused") {
		t.Errorf("refusals are not logged:\n%s", ts.logs.String())
	}
}

// lyingSigner offers one public key but signs with another private key.
type lyingSigner struct {
	offered gossh.PublicKey
	signs   gossh.Signer
}

func (l lyingSigner) PublicKey() gossh.PublicKey { return l.offered }
func (l lyingSigner) Sign(r io.Reader, data []byte) (*gossh.Signature, error) {
	return l.signs.Sign(r, data)
}

func TestOfferingAnAllowedKeyButSigningWithAnotherIsRefused(t *testing.T) {
	alice, eve := newUser(t, "Alice"), newUser(t, "Eve")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	liar := lyingSigner{offered: alice.signer.PublicKey(), signs: eve.signer}
	if _, err := ts.dial(eve, gossh.PublicKeys(liar, eve.signer)); err == nil {
		t.Fatal("got in by offering Alice's key and signing with Eve's")
	}
}

func TestNoPTYIsRefused(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	client, err := ts.dial(alice)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.CombinedOutput("")
	var exit *gossh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 1 || !strings.Contains(string(out), "needs a terminal") {
		t.Fatalf("no-PTY session: %v, %q", err, out)
	}
}

func TestViewerCannotCreate(t *testing.T) {
	alice, victor := newUser(t, "Alice"), newUser(t, "Victor")
	ts := startServer(t, t.TempDir(), []user{alice}, []user{victor})
	v := ts.open(victor)
	v.waitFor("Victor (viewer)")
	v.keys("n")
	v.waitFor("viewers can't create apps")
	if apps, _ := ts.st.Apps(t.Context()); len(apps) != 0 {
		t.Fatalf("a viewer created %+v", apps)
	}
	// And the store refuses a viewer even when asked directly.
	if _, err := ts.st.CreateApp(t.Context(), store.Actor{Name: "Victor", Role: store.Viewer}, "x", scopes.NewSet(scopes.ModelDeploy)); !errors.Is(err, store.ErrPermission) {
		t.Fatalf("store let a viewer write: %v", err)
	}
}

var osc52 = regexp.MustCompile(`\x1b\]52;c;([A-Za-z0-9+/=]+)(?:\x07|\x1b\\)`)

func TestCopyAndCloseSendsOSC52ToThatTerminal(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	a := ts.open(alice)
	a.createApp("Billing")
	a.keys("\r") // Create API Key
	a.waitFor("Create new API key")
	a.keys("billing-prod", "\r") // Generate Key
	a.waitFor("Copy and Close")
	a.keys("\r")
	a.waitFor("Sent to your terminal with OSC 52")
	m := osc52.FindStringSubmatch(a.out.String())
	if m == nil {
		t.Fatal("no OSC 52 sequence in the session's output")
	}
	key, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	d, err := ts.st.Verify(string(key), scopes.WorkflowDeploy)
	if err != nil || !d.Allowed {
		t.Fatalf("the OSC 52 payload is not the new key: %v, %v", d, err)
	}
	if strings.Contains(ts.logs.String(), string(key)) {
		t.Fatal("the key is in the server log")
	}
}

func TestHostKeyIsKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	alice := newUser(t, "Alice")
	first := startServer(t, dir, []user{alice}, nil)
	fp := first.srv.Fingerprint()
	first.shutdown()
	second := startServer(t, dir, []user{alice}, nil)
	if got := second.srv.Fingerprint(); got != fp || !strings.HasPrefix(fp, "SHA256:") {
		t.Fatalf("fingerprint %s, then %s", fp, got)
	}
	if fi, err := os.Stat(second.hostKey); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("host key file: %v %v", fi.Mode(), err)
	}
}

func TestAllowListEditsCountWithoutRestart(t *testing.T) {
	alice, carol := newUser(t, "Alice"), newUser(t, "Carol")
	ts := startServer(t, t.TempDir(), []user{alice}, nil)
	if _, err := ts.dial(carol); err == nil {
		t.Fatal("Carol got in before she was listed")
	}
	writeList(t, ts.admins, alice, carol)
	c, err := ts.dial(carol)
	if err != nil {
		t.Fatalf("Carol, newly listed: %v", err)
	}
	c.Close()
	writeList(t, ts.admins, carol)
	if _, err := ts.dial(alice); err == nil {
		t.Fatal("Alice still got in after she was removed")
	}
}

func TestNoAllowListNoServer(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nobody yet\n"), 0o600)
	for _, files := range [][2]string{{"", ""}, {empty, ""}, {filepath.Join(dir, "missing"), ""}} {
		if _, err := NewAllowList(files[0], files[1]); err == nil {
			t.Errorf("NewAllowList(%q, %q) accepted an unusable allow-list", files[0], files[1])
		}
	}
}

// TestIdleSessionEndsCleanly: a session left alone ends with a message, and
// the user's terminal is handed back as it was (main screen, no mouse
// reporting, cursor shown) rather than cut off mid-screen.
func TestIdleSessionEndsCleanly(t *testing.T) {
	alice := newUser(t, "Alice")
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) { c.IdleTimeout = 700 * time.Millisecond })
	a := ts.open(alice)
	a.waitFor("API Scopes")
	a.keys("/") // activity restarts the clock
	s := a.waitFor("disconnected after 700ms without a keystroke")
	raw := a.out.String()
	tail := raw[strings.LastIndex(raw, "\x1b[?1049h"):]
	for _, seq := range []string{"\x1b[?1049l", "\x1b[?25h"} {
		if !strings.Contains(tail, seq) {
			t.Errorf("the terminal was not restored (%q missing) before:\n%s", seq, s[max(0, len(s)-200):])
		}
	}
	if !strings.Contains(ts.logs.String(), "idle timeout") {
		t.Errorf("no idle timeout in the log:\n%s", ts.logs.String())
	}
}
