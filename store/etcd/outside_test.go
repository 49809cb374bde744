package etcd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/scopes"
)

// outsideEnv turns on the benchmarks that build apiscopes and run it as
// processes: they take a minute to build, so `go test -bench .` skips them
// unless asked.
const outsideEnv = "APISCOPES_OUTSIDE"

// BenchmarkPropagationOutside measures propagation as a service sees it,
// from outside the processes: two `apiscopes serve --etcd` replicas, A and
// B, on the test cluster; a client changes an app's scopes on A over SSH
// (`app scopes APP --set …`, as an admin script would) and, from the
// moment A's command exits, polls B's POST /v1/verify until its answer
// changes. p50-ms and p99-ms are those delays; load=on does the same while
// other clients send B as many checks as they can (req/s says how many).
//
// The baseline, one measure before each change, is etcd's own: from the
// return of a Put by one client until a watch of another client, through
// another member, delivers it (base-p50-ms, base-p99-ms). x-base-p99 is
// the ratio of the two p99s.
//
// Run with APISCOPES_OUTSIDE=1 go test ./store/etcd -run '^$' -bench
// PropagationOutside -benchtime 200x.
func BenchmarkPropagationOutside(b *testing.B) {
	if os.Getenv(outsideEnv) == "" {
		b.Skipf("builds apiscopes and runs it as processes: set %s=1", outsideEnv)
	}
	bin := buildApiscopes(b)
	for _, load := range []bool{false, true} {
		b.Run(fmt.Sprintf("load=%v", map[bool]string{false: "off", true: "on"}[load]), func(b *testing.B) {
			benchOutside(b, bin, load)
		})
	}
}

// buildApiscopes builds the apiscopes command into a folder of the test.
func buildApiscopes(b *testing.B) string {
	b.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		b.Fatal(err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(b.TempDir(), "apiscopes")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build apiscopes: %v\n%s", err, out)
	}
	return bin
}

// replicaProc is one `apiscopes serve` process.
type replicaProc struct {
	cmd    *exec.Cmd
	url    string // its POST /v1/verify
	ssh    string // its SSH address
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	urlLogged = regexp.MustCompile(`url=(http://\S+/v1/verify)`)
	sshLogged = regexp.MustCompile(`SSH console ready addr=(\S+)`)
)

// startReplica starts `apiscopes serve --etcd` on the test cluster under
// prefix, and waits until it says where it listens and that it is current.
func startReplica(b *testing.B, bin, dir, prefix, admins string, extra ...string) *replicaProc {
	b.Helper()
	args := append([]string{"serve", "--etcd", strings.Join(cluster.endpoints(), ","), "--etcd-prefix", prefix,
		"--http", "127.0.0.1:0", "--ssh", "127.0.0.1:0", "--host-key", filepath.Join(dir, "host_key"),
		"--admins", admins}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	r := &replicaProc{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(5 * time.Minute)
	for {
		log := r.stderr.String()
		u, s := urlLogged.FindStringSubmatch(log), sshLogged.FindStringSubmatch(log)
		if u != nil && s != nil && strings.Contains(log, "replica current") {
			r.url, r.ssh = u[1], s[1]
			return r
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			b.Fatalf("the replica never got ready:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outsideClient asks one replica's verify over one kept-alive connection.
type outsideClient struct {
	http *http.Client
	url  string
	body string
}

func newOutsideClient(url, key string, scope scopes.ID) *outsideClient {
	return &outsideClient{
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}, Timeout: 5 * time.Second},
		url:  url, body: `{"key":"` + key + `","scope":"` + string(scope) + `"}`,
	}
}

// allowed is whether the replica answers allowed.
func (c *outsideClient) allowed() (bool, error) {
	resp, err := c.http.Post(c.url, "application/json", strings.NewReader(c.body))
	if err != nil {
		return false, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return false, err
	}
	switch {
	case resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"allowed":true`)):
		return true, nil
	case resp.StatusCode == http.StatusForbidden:
		return false, nil
	}
	return false, fmt.Errorf("verify answered %d %s", resp.StatusCode, body)
}

func benchOutside(b *testing.B, bin string, load bool) {
	dir := b.TempDir()
	prefix := newPrefix(b)
	// The admins' allow-list and the key of the admin who makes changes.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sshPub, _ := gossh.NewPublicKey(pub)
	signer, _ := gossh.NewSignerFromKey(priv)
	admins := filepath.Join(dir, "admins.keys")
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sshPub))) + " Ada\n"
	if err := os.WriteFile(admins, []byte(line), 0o600); err != nil {
		b.Fatal(err)
	}

	// The database: one app with one key.
	st, _ := openStore(b, prefix)
	app, err := st.CreateApp(context.Background(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		b.Fatal(err)
	}
	key, _, err := st.CreateKey(context.Background(), admin, app.ID, "prod")
	if err != nil {
		b.Fatal(err)
	}
	st.Close()

	a := startReplica(b, bin, dir, prefix, admins)
	r := startReplica(b, bin, dir, prefix, admins)
	poll := newOutsideClient(r.url, key, scopes.ModelDeploy)
	if ok, err := poll.allowed(); err != nil || !ok {
		b.Fatalf("replica B before any change: allowed %v, %v", ok, err)
	}

	client, err := gossh.Dial("tcp", a.ssh, &gossh.ClientConfig{User: "ada", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	change := func(set scopes.ID) time.Time {
		sess, err := client.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		defer sess.Close()
		var out bytes.Buffer
		sess.Stdout, sess.Stderr = &out, &out
		if err := sess.Run("app scopes Risk --yes --set " + string(set)); err != nil {
			b.Fatalf("app scopes on replica A: %v\n%s", err, out.String())
		}
		return time.Now()
	}

	var requests atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if load {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := newOutsideClient(r.url, key, scopes.ModelExport)
				for ctx.Err() == nil {
					if _, err := c.allowed(); err == nil {
						requests.Add(1)
					}
				}
			}()
		}
	}
	defer func() { cancel(); wg.Wait() }()

	// Each change waits for B to show the previous one; one measure of
	// the baseline goes with each, so that both see the same machine.
	probe := newWatchProbe(b)
	var took, base []time.Duration
	allowed := true
	started := time.Now()
	for b.Loop() {
		next := scopes.ModelExport
		if !allowed {
			next = scopes.ModelDeploy
		}
		base = append(base, probe.once())
		done := change(next)
		allowed = !allowed
		var seen time.Time
		for {
			ok, err := poll.allowed()
			if err != nil {
				b.Fatal(err)
			}
			if ok == allowed {
				seen = time.Now()
				break
			}
			if time.Since(done) > 10*time.Second {
				b.Fatal("replica B never saw the change")
			}
		}
		took = append(took, max(0, seen.Sub(done)))
	}
	elapsed := time.Since(started)
	b.StopTimer()
	rate := float64(requests.Load()) / elapsed.Seconds()

	slices.Sort(took)
	slices.Sort(base)
	ms := func(d []time.Duration, q float64) float64 {
		return float64(d[int(q*float64(len(d)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(took, 0.5), "p50-ms")
	b.ReportMetric(ms(took, 0.99), "p99-ms")
	b.ReportMetric(ms(took, 1), "max-ms")
	b.ReportMetric(ms(base, 0.5), "base-p50-ms")
	b.ReportMetric(ms(base, 0.99), "base-p99-ms")
	b.ReportMetric(ms(took, 0.99)/max(ms(base, 0.99), 0.001), "x-base-p99")
	if load {
		b.ReportMetric(rate, "load-req/s")
	}
	if os.Getenv(outsideEnv) == "v" {
		var sb strings.Builder
		for _, d := range took {
			fmt.Fprintf(&sb, " %.1f", float64(d)/float64(time.Millisecond))
		}
		b.Logf("delays (ms):%s", sb.String())
		sc := bufio.NewScanner(strings.NewReader(r.stderr.String()))
		for sc.Scan() {
			if !strings.Contains(sc.Text(), "verify") {
				b.Log("B: " + sc.Text())
			}
		}
	}
}

// watchProbe measures etcd's own propagation: from the return of a Put by
// one client until a watch through another member delivers it.
type watchProbe struct {
	b      *testing.B
	writer *clientv3.Client
	key    string
	got    chan time.Time
	n      int
}

func newWatchProbe(b *testing.B) *watchProbe {
	b.Helper()
	eps := cluster.endpoints()
	writer, err := clientv3.New(clientv3.Config{Endpoints: eps[:1], DialTimeout: 5 * time.Second, Logger: nopLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { writer.Close() })
	reader, err := clientv3.New(clientv3.Config{Endpoints: eps[1:2], DialTimeout: 5 * time.Second, Logger: nopLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reader.Close() })
	p := &watchProbe{b: b, writer: writer, key: newPrefix(b) + "baseline", got: make(chan time.Time, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	w := reader.Watch(ctx, p.key, clientv3.WithCreatedNotify())
	<-w // in place
	go func() {
		for resp := range w {
			for range resp.Events {
				p.got <- time.Now()
			}
		}
	}()
	return p
}

// once is one measure.
func (p *watchProbe) once() time.Duration {
	p.n++
	if _, err := p.writer.Put(context.Background(), p.key, fmt.Sprint(p.n)); err != nil {
		p.b.Fatal(err)
	}
	done := time.Now()
	select {
	case at := <-p.got:
		return max(0, at.Sub(done))
	case <-time.After(10 * time.Second):
		p.b.Fatal("the baseline's watch never delivered its put")
		return 0
	}
}
