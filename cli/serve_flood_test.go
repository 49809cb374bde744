//go:build linux

package cli

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// TestServeUnderAnIdleFlood is issue 21's flood on `apiscopes serve` as
// the README's unit runs it, with its descriptors cut to 1,024 (prlimit):
// one address at its per-source cap, a proxy's idle keep-alive connections
// (one bogus request each) filling the rest of the HTTP cap and more. Then
// another client's verify on a fresh connection answers within a second,
// an admin logs in over SSH, and `apiscopes verify` on the same machine is
// answered through the local socket.
func TestServeUnderAnIdleFlood(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	path, key := seededDB(t)
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	admins := filepath.Join(dir, "admins")
	os.WriteFile(admins, append(bytes.TrimSpace(gossh.MarshalAuthorizedKey(signer.PublicKey())), " Alice\n"...), 0o600)

	raw, _ := json.Marshal([]string{"serve", "--db", path, "--admins", admins, "--ssh", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--http-max-conns-per-source", "32", "--trusted-proxies", "127.0.0.3"})
	cmd := exec.Command(prlimit, "--nofile=1024:1024", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
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
	httpAddr := awaitLog(regexp.MustCompile(`verify API ready url=http://(\S+)/v1/verify`))[1]
	sshAddr := awaitLog(sshReady)[1]
	max := 1024 - 512
	awaitLog(regexp.MustCompile(fmt.Sprintf(`HTTP bounds max-conns=%d per-source=32`, max)))

	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	request := func(c net.Conn, method, path, body string) (int, bool) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: apiscopes\r\nContent-Length: %d\r\n\r\n%s", method, path, len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, true
	}
	for i := range 32 {
		if _, ok := request(dial("127.0.0.2"), "GET", "/nope", ""); !ok {
			t.Fatalf("the source's connection %d", i+1)
		}
	}
	for i := range 1024 - 32 + 64 { // more than the process has descriptors
		if _, ok := request(dial("127.0.0.3"), "GET", "/nope", ""); !ok {
			t.Fatalf("the proxy's connection %d", i+1)
		}
	}

	start := time.Now()
	status, ok := request(dial("127.0.0.4"), "POST", "/v1/verify", `{"key": "`+key+`", "scope": "model:deploy"}`)
	if took := time.Since(start); !ok || status != 200 || took > time.Second {
		t.Errorf("another client's verify: %d %v after %v", status, ok, took)
	}
	client, err := gossh.Dial("tcp", sshAddr, &gossh.ClientConfig{User: "alice", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("the admin's SSH login: %v", err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sess.CombinedOutput("sessions"); err != nil {
		t.Errorf("the admin's command over SSH: %v\n%s", err, out)
	}
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	stdin, _ := os.Open(keyFile)
	defer stdin.Close()
	if res := runChild(t, stdin, "verify", "--db", path, "--scope", "model:deploy"); res.code != 0 {
		t.Errorf("verify through the local socket: %d %s", res.code, res.stderr)
	}
	if log := errb.String(); strings.Contains(log, "too many open files") {
		t.Errorf("the server ran out of descriptors:\n%s", log)
	}
}
