package gateways

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/api"
	"apiscopes/server/forwardauth"
	"apiscopes/server/routes"
	"apiscopes/store"
)

// The addresses docs/gateways.md's configurations use, which the tests
// replace with their own.
const (
	docAPI      = "127.0.0.1:8080"
	docUpstream = "127.0.0.1:9000"
)

// docBlock is the fenced block after the line "<!-- tested by
// server/gateways: NAME -->" in docs/gateways.md.
func docBlock(t testing.TB, name string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "gateways.md"))
	if err != nil {
		t.Fatal(err)
	}
	marker := "<!-- tested by server/gateways: " + name + " -->\n```"
	_, after, ok := strings.Cut(string(doc), marker)
	if !ok {
		t.Fatalf("docs/gateways.md has no block marked %q", name)
	}
	_, after, _ = strings.Cut(after, "\n") // the fence's language
	block, _, ok := strings.Cut(after, "\n```")
	if !ok {
		t.Fatalf("the %s block of docs/gateways.md does not end", name)
	}
	return block + "\n"
}

// replace replaces old by new in s, and fails the test if s has no old:
// the documentation changed under the test.
func replace(t testing.TB, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("the documented configuration no longer holds %q", old)
	}
	return strings.ReplaceAll(s, old, new)
}

// need finds a gateway's program. Without it the test is skipped, except
// under CI=true, where .ci/run installs it: there its absence fails.
func need(t testing.TB, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	if path := filepath.Join("/usr/sbin", program); exec.Command(path, "-v").Run() == nil {
		return path // Debian's nginx, outside a user's PATH
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed: .ci/run installs it (apt-get install nginx-light caddy)", program)
	}
	t.Skipf("%s is not installed (apt-get install nginx-light caddy); skipped outside CI", program)
	return ""
}

// freeAddr is a loopback address nothing listens on, for a gateway.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// confirming is an engine that can or cannot confirm it is current, as the
// test says: a replica cut off from its cluster.
type confirming struct {
	store.Engine
	current *atomic.Bool
}

func (c confirming) Current(time.Duration) bool { return c.current.Load() }

var admin = store.Actor{Name: "alice", Role: store.Admin, Origin: "test"}

// world is apiscopes and a small upstream, for a gateway to stand between
// a client and them.
type world struct {
	st       *store.Store
	current  *atomic.Bool
	app      store.App
	key      string // workflow:export, model:export, model:deploy
	unknown  string // well formed, never issued here
	api      string // /v1/auth's address
	upstream string
	hits     atomic.Int64 // requests that reached the upstream
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{current: &atomic.Bool{}}
	w.current.Store(true)
	st, err := store.New(confirming{Engine: store.NewMemory(), current: w.current},
		store.WithMaxStaleness(time.Second), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	if w.app, err = st.CreateApp(context.Background(), admin, "Risk & Compliance", scopes.NewSet(scopes.WorkflowExport, scopes.ModelExport, scopes.ModelDeploy)); err != nil {
		t.Fatal(err)
	}
	if w.key, _, err = st.CreateKey(context.Background(), admin, w.app.ID, "gateway"); err != nil {
		t.Fatal(err)
	}
	other, _ := store.New(store.NewMemory(), store.WithMaintenance(0))
	defer other.Close()
	oa, _ := other.CreateApp(context.Background(), admin, "Elsewhere", scopes.NewSet(scopes.ModelExport))
	w.unknown, _, _ = other.CreateKey(context.Background(), admin, oa.ID, "elsewhere")

	m, err := routes.Parse("routes.yaml", []byte(docBlock(t, "routes")))
	if err != nil {
		t.Fatalf("the documented routes file: %v", err)
	}
	proxies, _ := forwardauth.ParseProxies("127.0.0.1")
	srv := api.New("", st, nil, api.WithRoutes(routes.Static(m)), api.WithTrustedProxies(proxies), api.WithScopeHeader())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w.api = ln.Addr().String()

	up := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		json.NewEncoder(rw).Encode(map[string]any{"path": r.URL.RawPath + "|" + r.URL.Path, "header": r.Header})
	})}
	uln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(uln)
	t.Cleanup(func() { up.Close() })
	w.upstream = uln.Addr().String()
	return w
}

// gateway is a gateway process the test started.
type gateway struct {
	name string
	addr string
	log  string // its error log, shown when a check fails
	// refusedAs is what the gateway makes of a 400, 500 or 503 from
	// /v1/auth: nginx turns them into a 500.
	refusedAs map[int]int
}

// start runs cmd until the test ends and waits for addr to accept.
func start(t testing.TB, cmd *exec.Cmd, addr, logFile string) {
	t.Helper()
	out, _ := os.Create(logFile + ".out")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		select {
		case <-exited:
			t.Fatalf("%s exited at start:\n%s", cmd.Path, readLogs(logFile))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s:\n%s", cmd.Path, addr, readLogs(logFile))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readLogs(logFile string) string {
	a, _ := os.ReadFile(logFile)
	b, _ := os.ReadFile(logFile + ".out")
	return string(a) + string(b)
}

// reply is a gateway's answer: its status, and what the upstream saw when
// the request reached it.
type reply struct {
	status int
	body   string
	seen   struct {
		Path   string              `json:"path"`
		Header map[string][]string `json:"header"`
	}
}

// send writes one request to addr exactly as given (the target is not
// cleaned or escaped by any client library), with the headers as name,
// value pairs, and reads the answer.
func send(t testing.TB, addr, method, target string, header ...string) reply {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n", method, target)
	if method == "POST" || method == "PUT" {
		req += "Content-Length: 0\r\n"
	}
	for i := 0; i+1 < len(header); i += 2 {
		req += header[i] + ": " + header[i+1] + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, body: string(raw)}
	if r.status == 200 {
		json.Unmarshal(raw, &r.seen)
	}
	return r
}

// waitFor polls cond until it holds, and fails the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
