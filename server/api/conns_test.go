package api

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/forwardauth"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// dialFrom opens a connection to addr from the loopback address from
// (127.0.0.2, …): on Linux every 127/8 address is this machine's, so each
// stands for another client.
func dialFrom(t testing.TB, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one request on c and reads its answer; false if the server
// closed the connection instead.
func roundTrip(c net.Conn, method, path, body string, header ...string) (*http.Response, bool) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: apiscopes\r\nContent-Length: %d\r\n", method, path, len(body))
	for i := 0; i+1 < len(header); i += 2 {
		req += header[i] + ": " + header[i+1] + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"+body); err != nil {
		return nil, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, true
}

// closedByServer reports whether the server closed c without answering.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && err != nil && !os.IsTimeout(err)
}

func serveAPI(t testing.TB, st *store.Store, opts ...Option) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New("", st, slog.New(slog.DiscardHandler), opts...)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().String()
}

func (s *Server) idleConns() int {
	s.conns.mu.Lock()
	defer s.conns.mu.Unlock()
	return s.conns.idle.Len()
}

// TestConnectionCaps: one source gets at most its share, a trusted proxy
// is exempt from it, and at the total cap a new client's connection is
// still answered: the one idle the longest is closed to make room.
func TestConnectionCaps(t *testing.T) {
	f := newFixture(t)
	proxy, _ := forwardauth.ParseProxies("127.0.0.3")
	srv, addr := serveAPI(t, f.st, WithConnLimits(ConnLimits{Max: 8, MaxPerSource: 3}), WithTrustedProxies(proxy))

	var first net.Conn
	for i := range 3 {
		c := dialFrom(t, "127.0.0.2", addr)
		if resp, ok := roundTrip(c, "GET", "/livez", ""); !ok || resp.StatusCode != 200 {
			t.Fatalf("connection %d of the source's 3", i+1)
		}
		if i == 0 {
			first = c
		}
		// The server counts a connection idle a moment after its answer:
		// the next waits for it, so the first is the one idle the longest.
		waitFor(t, "the connection to go idle", func() bool { return srv.idleConns() == i+1 })
	}
	if !closedByServer(dialFrom(t, "127.0.0.2", addr)) {
		t.Fatal("a source's 4th connection was kept, over its cap of 3")
	}
	for i := range 5 {
		c := dialFrom(t, "127.0.0.3", addr)
		if resp, ok := roundTrip(c, "GET", "/nope", ""); !ok || resp.StatusCode != 404 {
			t.Fatalf("the trusted proxy's connection %d", i+1)
		}
	}
	waitFor(t, "8 idle connections", func() bool { return srv.idleConns() == 8 })

	c := dialFrom(t, "127.0.0.4", addr)
	resp, ok := roundTrip(c, "POST", "/v1/verify", body(f.key, "model:deploy"))
	if !ok || resp.StatusCode != 200 {
		t.Fatal("a new client at the total cap was not answered")
	}
	if !closedByServer(first) {
		t.Error("the connection idle the longest was not the one closed")
	}
	waitFor(t, "the closed connection to be counted out", func() bool { open, _, _ := srv.Conns(); return open == 8 })
	if _, refused, evicted := srv.Conns(); refused != 1 || evicted != 1 {
		t.Errorf("refused %d, evicted %d; want 1 and 1", refused, evicted)
	}
}

// TestConnLimitsInBudget: the cap never takes more than the descriptors
// less the reserve (or half of them, for a tiny limit).
func TestConnLimitsInBudget(t *testing.T) {
	if l := (ConnLimits{}).inBudget(0); l != DefaultConnLimits() {
		t.Errorf("zero limits: %+v, want the defaults", l)
	}
	for _, tt := range []struct{ budget, max, want int }{
		{4096, 2048, 2048}, {2048, 2048, 1536}, {1024, 2048, 512}, {256, 2048, 128}, {0, 2048, 2048}, {4096, 0, 2048}, {4096, 4000, 3584},
	} {
		l := ConnLimits{Max: tt.max}.inBudget(tt.budget)
		if l.Max != tt.want {
			t.Errorf("budget %d, max %d: %d, want %d", tt.budget, tt.max, l.Max, tt.want)
		}
	}
}

// childEnv starts the child half of TestIdleFloodLeavesRoom.
const childEnv = "APISCOPES_TEST_DESCRIPTORS_CHILD"

// childLimit is the child's RLIMIT_NOFILE: with the default reserve of 512,
// its cap is 512 connections.
const childLimit = 1024

// TestIdleFloodLeavesRoom is issue-21's flood, on a server whose process
// may open 1,024 descriptors: one source at its cap, a trusted proxy's idle
// keep-alive connections (one bogus request each) filling the rest and more.
// Another client's verify on a fresh connection is answered within a
// second, and the process can still open descriptors for everything else
// (the SSH console, the local socket). The server runs in a child process
// with the low limit, so that the flood's own descriptors are not its.
func TestIdleFloodLeavesRoom(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("the child's half runs in TestDescriptorChild")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDescriptorChild$")
	cmd.Env = append(os.Environ(), childEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	lines := bufio.NewScanner(out)
	next := func() string {
		t.Helper()
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, "child ") {
				return strings.TrimPrefix(l, "child ")
			}
		}
		t.Fatalf("the child stopped: %v", lines.Err())
		return ""
	}
	f := strings.Fields(next())
	addr, key, perSource := f[0], f[1], 32
	max, _ := strconv.Atoi(f[2])
	if max != childLimit-DefaultReserve {
		t.Fatalf("the child's cap is %d connections, want %d", max, childLimit-DefaultReserve)
	}

	for i := range perSource {
		if _, ok := roundTrip(dialFrom(t, "127.0.0.2", addr), "GET", "/nope", ""); !ok {
			t.Fatalf("the source's connection %d", i+1)
		}
	}
	if !closedByServer(dialFrom(t, "127.0.0.2", addr)) {
		t.Fatal("the source was let past its cap")
	}
	for i := range max - perSource + 64 {
		if _, ok := roundTrip(dialFrom(t, "127.0.0.3", addr), "GET", "/nope", ""); !ok {
			t.Fatalf("the proxy's connection %d", i+1)
		}
	}

	start := time.Now()
	c := dialFrom(t, "127.0.0.4", addr)
	resp, ok := roundTrip(c, "POST", "/v1/verify", body(key, "model:deploy"))
	took := time.Since(start)
	if !ok || resp.StatusCode != 200 {
		t.Fatal("another client's verify was not answered")
	}
	if took > time.Second {
		t.Errorf("another client's verify took %v, over the second the README promises", took)
	}
	fmt.Fprintln(in, "open", DefaultReserve-64)
	if got := next(); got != fmt.Sprint("opened ", DefaultReserve-64) {
		t.Errorf("the process cannot open descriptors for the rest: %s", got)
	}
}

// TestDescriptorChild is the server half of TestIdleFloodLeavesRoom.
func TestDescriptorChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("runs as TestIdleFloodLeavesRoom's child")
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: childLimit, Max: childLimit}); err != nil {
		t.Fatal(err)
	}
	st, err := bolt.OpenStore(filepath.Join(dir, "apiscopes.db"), bolt.Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, _ := st.CreateApp(t.Context(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	key, _, err := st.CreateKey(t.Context(), admin, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	proxy, _ := forwardauth.ParseProxies("127.0.0.3")
	srv, addr := serveAPI(t, st, WithTrustedProxies(proxy), WithConnLimits(ConnLimits{Max: DefaultMaxConns, MaxPerSource: 32}))
	fmt.Println("child", addr, key, srv.Limits().Max)
	cmds := bufio.NewScanner(os.Stdin)
	for cmds.Scan() {
		var n int
		if _, err := fmt.Sscanf(cmds.Text(), "open %d", &n); err != nil {
			continue
		}
		var files []*os.File
		for range n {
			f, err := os.Open(os.DevNull)
			if err != nil {
				break
			}
			files = append(files, f)
		}
		fmt.Println("child opened", len(files))
		for _, f := range files {
			f.Close()
		}
	}
}
