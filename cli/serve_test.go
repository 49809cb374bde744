package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store/bolt"
)

// lockedBuffer is a stderr the server writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var readyURL = regexp.MustCompile(`url=(http://\S+/v1/verify)`)

// TestServe runs `apiscopes serve --http` on a free port, asks it as a
// service would, and stops it as ctrl+c does: the database is released.
func TestServe(t *testing.T) {
	path, key := seededDB(t)
	t.Setenv("APISCOPES_HTTP", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--db", path, "--http", "127.0.0.1:0"}, nil, &stdout, stderr)
	}()

	var url string
	deadline := time.Now().Add(5 * time.Second)
	for url == "" {
		if m := readyURL.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve never became ready: %s", stderr.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for scope, want := range map[string]int{"model:deploy": 200, "guardrail:deploy": 403, "model:nope": 400} {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"key": "`+key+`", "scope": "`+scope+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", scope, resp.StatusCode, want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(stderr.String(), key) {
		t.Error("the server logged the key")
	}
	st, err := bolt.OpenStore(path, bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the database is still held: %v", err)
	}
	defer st.Close()
	keys, _ := st.Keys(ctx, 1)
	if len(keys) != 1 || keys[0].LastUsedAt.IsZero() {
		t.Errorf("the key's last use was not written at shutdown: %+v", keys)
	}
}

func TestServeUsage(t *testing.T) {
	t.Setenv("APISCOPES_HTTP", "")
	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"serve"}, 2, "refusing to start an open server"},
		{[]string{"serve", "--ssh", ""}, 2, "nothing to serve: pass --http ADDR"},
		{[]string{"serve", "--max-sessions", "-3"}, 2, "cannot be negative"},
		{[]string{"serve", "--idle-timeout", "-5s"}, 2, "cannot be negative"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--log-refusals", "-1"}, 2, "cannot be negative"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--metrics", "256.0.0.1:http", "--db", t.TempDir() + "/b.db"}, 1,
			"cannot listen on 256.0.0.1:http; choose another address with --metrics"},
		{[]string{"serve", "--max-pty", "0x200"}, 2, `"0x200" is not a terminal size`},
		{[]string{"serve", "--http"}, 2, "flag needs an argument: --http"},
		{[]string{"serve", "--http", "127.0.0.1:0", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"serve", "--http", "256.0.0.1:http", "--db", t.TempDir() + "/a.db"}, 1, "cannot listen on 256.0.0.1:http"},
	} {
		code, _, errs := runWithStdin(t, "", tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.err) {
			t.Errorf("%v: %d %q; want %d %q", tt.args, code, errs, tt.code, tt.err)
		}
	}
	if code, out, _ := runWithStdin(t, "", "serve", "-h"); code != 0 || !strings.Contains(out, "POST /v1/verify") {
		t.Errorf("serve -h: %d %q", code, out)
	}
}

// TestServeKeepsHotBackupsAndStopsCleanly runs `apiscopes serve` as its own
// process with hot backups every 100 ms, stops it with SIGTERM, and checks
// that it said goodbye, closed the database, and left backups that open.
func TestServeKeepsHotBackupsAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := gossh.NewPublicKey(pub)
	admins := filepath.Join(dir, "admins")
	os.WriteFile(admins, append(bytes.TrimSpace(gossh.MarshalAuthorizedKey(sshPub)), " Alice\n"...), 0o600)
	backups := filepath.Join(dir, "backups")

	raw, _ := json.Marshal([]string{"serve", "--db", filepath.Join(dir, "a.db"), "--admins", admins,
		"--ssh", "127.0.0.1:0", "--backup-dir", backups, "--backup-every", "100ms"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		files, _ := bolt.ListBackups(backups)
		if len(files) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no hot backups after 15 s; log:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v; log:\n%s", err, errb.String())
	}
	log := errb.String()
	for _, want := range []string{"SSH console ready", "host key", "fingerprint=SHA256:", "shutting down", "database closed cleanly"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	files, err := bolt.ListBackups(backups)
	if err != nil || len(files) < 2 {
		t.Fatalf("backups: %v %v", files, err)
	}
	for _, f := range files {
		if err := bolt.CheckFile(t.Context(), f); err != nil {
			t.Errorf("backup %s: %v", f, err)
		}
	}
	if err := bolt.CheckFile(t.Context(), filepath.Join(dir, "a.db")); err != nil {
		t.Errorf("the database after shutdown: %v", err)
	}
}

var sshReady = regexp.MustCompile(`SSH console ready addr=(\S+)`)

// TestServeReloadsOnSIGHUP runs `apiscopes serve` as its own process: SIGHUP
// puts an edited allow-list in force at once (a removed admin's open
// session ends) and the server goes on; SIGTERM then stops it cleanly.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	signer := func() gossh.Signer {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := gossh.NewSignerFromKey(priv)
		return s
	}
	alice, bob := signer(), signer()
	line := func(s gossh.Signer, name string) []byte {
		return append(bytes.TrimSpace(gossh.MarshalAuthorizedKey(s.PublicKey())), " "+name+"\n"...)
	}
	admins := filepath.Join(dir, "admins")
	os.WriteFile(admins, append(line(alice, "Alice"), line(bob, "Bob")...), 0o600)

	raw, _ := json.Marshal([]string{"serve", "--db", filepath.Join(dir, "a.db"), "--admins", admins, "--ssh", "127.0.0.1:0"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	awaitLog := func(re *regexp.Regexp) []string {
		t.Helper()
		for i := 0; ; i++ {
			if m := re.FindStringSubmatch(errb.String()); m != nil {
				return m
			}
			if i == 500 {
				t.Fatalf("the log never matched %s:\n%s", re, errb.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	addr := awaitLog(sshReady)[1]

	client, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{User: "alice", Auth: []gossh.AuthMethod{gossh.PublicKeys(alice)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, _ := client.NewSession()
	out := &lockedBuffer{}
	sess.Stdout, sess.Stderr = out, out
	stdin, _ := sess.StdinPipe()
	defer stdin.Close()
	if err := sess.RequestPty("xterm", 30, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	sess.Shell()
	awaitLog(regexp.MustCompile(`connect user=Alice`))

	os.WriteFile(admins, line(bob, "Bob"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	awaitLog(regexp.MustCompile(`allow-list reloaded admins=1 viewers=0`))
	awaitLog(regexp.MustCompile(`session ended: access revoked user=Alice`))
	for i := 0; !strings.Contains(out.String(), "your access was revoked"); i++ {
		if i == 500 {
			t.Fatalf("Alice's session was not told:\n%q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	cmd.Process.Signal(syscall.SIGHUP) // nothing changed: it says so, and goes on
	awaitLog(regexp.MustCompile(`allow-list unchanged`))
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGHUP and SIGTERM: %v; log:\n%s", err, errb.String())
	}
	if log := errb.String(); !strings.Contains(log, "database closed cleanly") {
		t.Errorf("no clean shutdown:\n%s", log)
	}
}

// TestServeRefusesAllowListsItCannotHonour: at start-up, a line with an
// option apiscopes does not implement, a key without a comment to name its
// person, or a file others can write stops serve, naming the file, line
// and what to do.
func TestServeRefusesAllowListsItCannotHonour(t *testing.T) {
	t.Setenv("APISCOPES_HTTP", "")
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := gossh.NewPublicKey(pub)
	key := string(bytes.TrimSpace(gossh.MarshalAuthorizedKey(sshPub)))
	admins := filepath.Join(dir, "admins")
	for _, tt := range []struct {
		content string
		mode    os.FileMode
		want    string
	}{
		{`environment="X=1" ` + key + " Alice\n", 0o600, admins + ":1: refused: option environment="},
		{key + "\n", 0o600, admins + ":1: refused: the key has no comment to name its person"},
		{key + " Alice\n", 0o620, "fix: chmod go-w " + admins},
	} {
		os.WriteFile(admins, []byte(tt.content), tt.mode)
		os.Chmod(admins, tt.mode)
		code, _, errs := runWithStdin(t, "", "serve", "--db", filepath.Join(dir, "a.db"), "--admins", admins)
		if code != 2 || !strings.Contains(errs, "refusing to start: an allow-list cannot be used as it is") ||
			!strings.Contains(errs, tt.want) {
			t.Errorf("%q (mode %04o): %d\n%s\nwant %q", tt.content, tt.mode, code, errs, tt.want)
		}
	}
}
