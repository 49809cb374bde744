package etcd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// The tests of this package share one 3-member cluster, run in-process on
// loopback with etcd's default limits; each test keeps its records under a
// prefix of its own.
var cluster *testCluster

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apiscopes-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster, err = startCluster(dir, 3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the test cluster:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	for _, f := range scaleFiles {
		os.RemoveAll(f)
	}
	cluster.stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

type testCluster struct {
	members []*member
}

type member struct {
	cfg  *embed.Config
	mu   sync.Mutex
	etcd *embed.Etcd // nil while stopped
}

func (m *member) server() *embed.Etcd {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd
}

// freePorts reserves n loopback ports and releases them for the members to
// listen on.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func startCluster(dir string, n int) (*testCluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	c := &testCluster{}
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])}
		pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "apiscopes-test"
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(dir, cfg.Name+".log")}
		// Keep the last 10,000 revisions, as an operator would bound the
		// history; the tests that need a compaction make one themselves.
		cfg.AutoCompactionMode = "revision"
		cfg.AutoCompactionRetention = "10000"
		c.members = append(c.members, &member{cfg: cfg})
	}
	errs := make(chan error, n)
	for _, m := range c.members {
		go func() { errs <- m.start() }()
	}
	for range n {
		if err := <-errs; err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

func (m *member) start() error {
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return fmt.Errorf("member %s: %w", m.cfg.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return fmt.Errorf("member %s was not ready within a minute", m.cfg.Name)
	}
	m.mu.Lock()
	m.etcd = e
	m.mu.Unlock()
	return nil
}

// hardStop stops a member at once, as a crash does: no leadership
// transfer, no goodbye to its peers.
func (m *member) hardStop() {
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e == nil {
		return
	}
	e.Server.HardStop()
	e.Close()
}

// stop stops every member at once: a graceful stop would try to hand the
// leadership to a member that is stopping too, and wait for it in vain.
func (c *testCluster) stop() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Go(m.hardStop)
	}
	wg.Wait()
}

func (m *member) endpoint() string { return m.cfg.AdvertiseClientUrls[0].Host }

func (c *testCluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.endpoint())
	}
	return eps
}

// leader is the member that leads, waiting for an election if need be.
func (c *testCluster) leader(t testing.TB) *member {
	t.Helper()
	var lead *member
	eventually(t, 30*time.Second, "the cluster to have a leader", func() bool {
		for _, m := range c.members {
			if e := m.server(); e != nil && e.Server.Leader() == e.Server.MemberID() {
				lead = m
				return true
			}
		}
		return false
	})
	return lead
}

var prefixes atomic.Int64

// newPrefix is a prefix of the cluster's keyspace no other test uses.
func newPrefix(t testing.TB) string {
	return fmt.Sprintf("/t/%03d-%s/", prefixes.Add(1), strings.ReplaceAll(t.Name(), "/", "_"))
}

// openEngine opens an engine on the test cluster, closed when the test
// ends.
func openEngine(t testing.TB, prefix string, mod ...func(*Config)) *Engine {
	t.Helper()
	cfg := Config{Endpoints: cluster.endpoints(), Prefix: prefix}
	for _, f := range mod {
		f(&cfg)
	}
	e, err := Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// rawClient is a client of the cluster of its own, for what a test does
// beside the engine (a compaction, a write from another program).
func rawClient(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: cluster.endpoints(), DialTimeout: 5 * time.Second,
		Logger: nopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// eventually waits until cond holds, failing with what it waited for if
// it does not within limit.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(wait)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// proxy forwards TCP connections from a loopback port to a member, and
// can cut them off: while cut it moves no byte either way (new
// connections are accepted and then hang too), as a network partition
// that drops packets does; once restored, the same connections carry on.
// Severed, it closes every connection and refuses new ones until
// restored.
type proxy struct {
	l       net.Listener
	target  string
	mu      sync.Mutex
	open    chan struct{} // closed while traffic flows
	conns   []net.Conn
	severed bool
	closed  bool
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target, open: make(chan struct{})}
	close(p.open)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		severed := p.severed
		p.mu.Unlock()
		if severed {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

// pipe copies from src to dst, holding each chunk while the proxy is cut.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			open := p.open
			p.mu.Unlock()
			<-open
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// sever closes every connection, and refuses new ones until restored.
func (p *proxy) sever() {
	p.mu.Lock()
	p.severed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.severed = false
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

func (p *proxy) close() {
	p.restore()
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.mu.Unlock()
	p.l.Close()
	for _, c := range conns {
		c.Close()
	}
}
