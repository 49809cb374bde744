package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"charm.land/log/v2"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/server"
	"apiscopes/store"
)

// sshServer serves st over SSH in this process, as serve does, to the
// admins and viewers given as authorized_keys lines.
func sshServer(t *testing.T, st *store.Store, admins, viewers string) string {
	t.Helper()
	addr, stop, err := serveSSH(st, t.TempDir(), admins, viewers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// serveSSH serves st over SSH on a free loopback port, with its
// allow-lists and host key in dir; stop shuts it down.
func serveSSH(st *store.Store, dir, admins, viewers string) (addr string, stop func(), err error) {
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err == nil {
			err = os.WriteFile(p, []byte(content), 0o600)
		}
		return p
	}
	adminsFile, viewersFile := write("admins", admins), write("viewers", viewers)
	if err != nil {
		return "", nil, err
	}
	allow, err := server.NewAllowList(adminsFile, viewersFile)
	if err != nil {
		return "", nil, err
	}
	srv, err := server.NewSSH(st, server.Config{Addr: "127.0.0.1:0", HostKeyPath: filepath.Join(dir, "host_key"),
		Allow: allow, Log: log.New(io.Discard), Commands: sshCommands(st)})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go srv.Serve(ln)
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// person is an SSH identity of a test: its key and its authorized_keys line.
type person struct {
	signer gossh.Signer
	line   string
}

func newPerson(t *testing.T, options, name string) person {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.PublicKey()))) + " " + name + "\n"
	if options != "" {
		line = options + " " + line
	}
	return person{s, line}
}

// sshRun runs command as p over SSH and returns the exit status and output.
func sshRun(t *testing.T, addr string, p person, stdin, command string) (int, string, string) {
	t.Helper()
	client, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(p.signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdin, sess.Stdout, sess.Stderr = strings.NewReader(stdin), &out, &errb
	err = sess.Run(command)
	var exit *gossh.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitStatus()
	case err != nil:
		t.Fatalf("ssh %s: %v", command, err)
	}
	return code, out.String(), errb.String()
}

// TestCommandsOverSSH: the command tree over SSH, with the allow-lists'
// roles: admins change things; viewers list, show, audit and use usage, and
// every change of theirs exits 1 and writes nothing; a restrict line reads
// only; a command= line runs its command whatever the client asks; no flag
// reaches a file or a database of the server's; the rest of the tree is
// not there.
func TestCommandsOverSSH(t *testing.T) {
	path, _ := seededDB(t)
	h := holdDB(t, path)
	st := h.Store()
	ada := newPerson(t, "", "Ada Admin")
	vic := newPerson(t, "", "Vic Viewer")
	rita := newPerson(t, "restrict", "Rita Restricted")
	ci := newPerson(t, `restrict,command="key roll 'Risk & Compliance' ci --grace 1h"`, "CI Roller")
	addr := sshServer(t, st, ada.line+rita.line+ci.line, vic.line)
	head := func() uint64 {
		seq, err := store.AuditHeadOf(context.Background(), st.Engine())
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}

	code, out, errs := sshRun(t, addr, ada, "", "app create Payments --scope model:deploy")
	if code != 0 || !strings.Contains(out, `Created app "Payments"`) {
		t.Fatalf("admin's app create = %d, %q, %q", code, out, errs)
	}
	code, out, _ = sshRun(t, addr, ada, "", "key create Payments --name deploy-bot")
	if code != 0 || store.CheckKey(strings.TrimSpace(out)) != nil {
		t.Errorf("admin's key create = %d, stdout %q: want the key alone", code, out)
	}

	for _, read := range []string{"app list", "app show Payments --json", "key list Payments", "audit", "usage"} {
		if code, _, errs := sshRun(t, addr, vic, "", read); code != 0 {
			t.Errorf("viewer's %s = %d, %q", read, code, errs)
		}
	}
	before := head()
	for _, change := range []string{"app create Mine --scope model:deploy", "app delete Payments --yes",
		"key create Payments --name sneaky", "app scopes Payments --add guardrail:deploy"} {
		code, out, errs := sshRun(t, addr, vic, "", change)
		if code != 1 || !strings.Contains(errs, "Vic Viewer is a viewer; only admins can make changes") || strings.Contains(out, "aps_") {
			t.Errorf("viewer's %s = %d, %q, %q", change, code, out, errs)
		}
	}
	code, _, errs = sshRun(t, addr, vic, "apps:\n- name: Mine\n  scopes: [model:deploy]\n", "apply -f - --yes")
	if code != 1 || !strings.Contains(errs, "viewer") {
		t.Errorf("viewer's apply = %d, %q", code, errs)
	}
	if code, _, errs := sshRun(t, addr, vic, "", "sessions"); code != 1 || !strings.Contains(errs, "only admins may list the open sessions") {
		t.Errorf("viewer's sessions = %d, %q", code, errs)
	}

	if code, _, errs := sshRun(t, addr, rita, "", "app list"); code != 0 {
		t.Errorf("a restrict line's app list = %d, %q", code, errs)
	}
	code, _, errs = sshRun(t, addr, rita, "", "app create Rita --scope model:deploy")
	if code != 1 || !strings.Contains(errs, "has restrict, so it runs the commands that only read") {
		t.Errorf("a restrict line's change = %d, %q", code, errs)
	}

	// command= runs its own command, whatever the client asks.
	code, out, errs = sshRun(t, addr, ci, "", "app delete 'Risk & Compliance' --yes")
	if code != 0 || store.CheckKey(strings.TrimSpace(out)) != nil || !strings.Contains(errs, `Rolled API key "ci"`) {
		t.Errorf("the command= line = %d, %q, %q", code, out, errs)
	}
	if _, err := st.AppNamed(t.Context(), "Risk & Compliance"); err != nil {
		t.Errorf("the client's own command ran: %v", err)
	}
	if got := head(); got == before {
		t.Error("the roll was not audited")
	}
	before = head()

	for command, want := range map[string]string{
		"key create Payments --name x --out /tmp/x": "--out names a file of the server",
		"app list --db /etc/passwd":                 "--db names a database, but this command runs on the server's own",
		"app list --etcd http://10.0.0.1:2379":      "--etcd names a database",
		"apply -f /etc/passwd":                      "-f /etc/passwd names a file of the server: send the file on stdin with -f -",
		"verify --scope model:deploy":               `unknown command "verify" for "apiscopes"; the commands are app, apply, approvals, audit, key, policy, sessions, usage`,
		"backup /tmp/copy.db":                       `unknown command "backup"`,
		"serve":                                     `unknown command "serve"`,
	} {
		code, _, errs := sshRun(t, addr, ada, "", command)
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("%s = %d, %q; want 2 and %q", command, code, errs, want)
		}
	}
	if got := head(); got != before {
		t.Errorf("refused commands changed the database: audit head %d → %d", before, got)
	}
	code, _, errs = sshRun(t, addr, ada, "", "app list"+strings.Repeat(" x", server.MaxCommandArgs))
	if code == 0 || !strings.Contains(errs, "a command has at most 64 words") {
		t.Errorf("too many words = %d, %q", code, errs)
	}
	if code, out, _ := sshRun(t, addr, ada, "", "sessions"); code != 0 || !strings.Contains(out, "Ada Admin") {
		t.Errorf("admin's sessions = %d, %q", code, out)
	}
}
