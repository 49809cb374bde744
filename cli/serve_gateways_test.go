package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"apiscopes/server/certfile/certtest"
)

// TestServeGateways runs `apiscopes serve` as its own process with
// --http and --grpc over TLS, a routes file, trusted proxies and the scope
// header: /v1/auth and Envoy's Check answer from the routes; SIGHUP puts an
// edited routes file in force, and keeps the routes when the file turns bad.
func TestServeGateways(t *testing.T) {
	path, key := seededDB(t) // Risk & Compliance: model:deploy
	dir := t.TempDir()
	ca := certtest.NewCA(t)
	cert, certKey := ca.Issue(t, dir, "apiscopes")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte("- path: /models\n  scope: model:deploy\n"), 0o644)

	raw, _ := json.Marshal([]string{"serve", "--db", path, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0",
		"--routes", routesFile, "--trusted-proxies", "127.0.0.1", "--scope-header",
		"--http-tls-cert", cert, "--http-tls-key", certKey, "--http-max-conns", "100"})
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
	authURL := awaitLog(regexp.MustCompile(`forward-auth ready url=(https://\S+/v1/auth)`))[1]
	grpcAddr := awaitLog(regexp.MustCompile(`ext_authz Check ready addr=(\S+)`))[1]
	awaitLog(regexp.MustCompile(`HTTP bounds max-conns=100 per-source=256 idle-timeout=15s trusted-proxies=1`))

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, Timeout: 10 * time.Second}
	auth := func(path string, header ...string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", authURL, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", path)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	check := func(path string) int32 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "198.51.100.7"}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: path,
				Headers: map[string]string{"authorization": "Bearer " + key}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus().GetCode()
	}

	if got := auth("/models/7"); got != 200 {
		t.Errorf("/v1/auth /models/7: %d", got)
	}
	if got := auth("/reports"); got != 403 {
		t.Errorf("/v1/auth /reports, no route: %d", got)
	}
	if got := auth("/reports", "X-Apiscopes-Scope", "model:deploy"); got != 200 {
		t.Errorf("/v1/auth with the scope from a trusted proxy: %d", got)
	}
	if got := check("/models/7"); got != 0 {
		t.Errorf("Check /models/7: code %d", got)
	}

	os.WriteFile(routesFile, []byte("- path: /reports\n  scope: model:deploy\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	awaitLog(regexp.MustCompile(`SIGHUP: routes reloaded`))
	if got := auth("/models/7"); got != 403 {
		t.Errorf("after reload, /models/7: %d", got)
	}
	if got := check("/reports/1"); got != 0 {
		t.Errorf("after reload, Check /reports/1: code %d", got)
	}
	os.WriteFile(routesFile, []byte("- path: /reports\n  scope: model:nope\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	awaitLog(regexp.MustCompile(`SIGHUP: routes not reloaded.*routes.yaml:2`))
	if got := auth("/reports"); got != 200 {
		t.Errorf("after a bad reload, /reports: %d", got)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v; log:\n%s", err, errb.String())
	}
	if log := errb.String(); strings.Contains(log, key) || strings.Contains(log, key[4:47]) {
		t.Errorf("the key was logged:\n%s", log)
	}
}

// TestServeGatewayUsage: flags that cannot work together, a routes file that
// could be misread, and files that cannot be used stop serve at once,
// saying what to do.
func TestServeGatewayUsage(t *testing.T) {
	t.Setenv("APISCOPES_HTTP", "")
	dir := t.TempDir()
	bad := filepath.Join(dir, "routes.yaml")
	os.WriteFile(bad, []byte("- path: /models\n  scope: model:deploy\n- path: /x\n  scope: model:explode\n"), 0o644)
	db := filepath.Join(dir, "a.db")
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"serve", "--http", "127.0.0.1:0", "--routes", bad, "--db", db}, bad + `:4: unknown scope "model:explode"`},
		{[]string{"serve", "--http", "127.0.0.1:0", "--routes", filepath.Join(dir, "none.yaml"), "--db", db}, "none.yaml"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--scope-header", "--db", db}, "--trusted-proxies"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--trusted-proxies", "gateway.local", "--db", db}, "neither an address nor a CIDR"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--http-tls-cert", "c.pem", "--db", db}, "go together"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--http-tls-cert", "c.pem", "--http-tls-key", "k.pem", "--db", db}, "c.pem"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--http-max-conns", "0", "--db", db}, "--http-max-conns must be positive"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--http-idle-timeout", "0s", "--db", db}, "--http-idle-timeout must be positive"},
		{[]string{"serve", "--ssh", "127.0.0.1:0", "--routes", bad, "--db", db}, "add --http ADDR or --grpc ADDR"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--auth-key-header", "X Key", "--db", db}, "--auth-key-header needs a header name"},
	} {
		code, _, errs := runWithStdin(t, "", tt.args...)
		if code != 2 || !strings.Contains(errs, tt.err) {
			t.Errorf("%v: %d %q; want 2 and %q", tt.args, code, errs, tt.err)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a refused serve created the database")
	}
}
