package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"apiscopes/scopes"
	"apiscopes/store"
)

// frameWatch is a session's output, thrown away as it comes, that says when
// the console has drawn a frame showing want.
type frameWatch struct {
	want  []byte
	mu    sync.Mutex
	tail  []byte
	head  []byte // the first bytes, for a refusal's message
	keep  bool   // keep all the output (see all)
	kept  []byte
	n     int64
	shown chan struct{}
}

func newFrameWatch(want string) *frameWatch {
	return &frameWatch{want: []byte(want), shown: make(chan struct{})}
}

// all is everything the session wrote, when the watch keeps it.
func (w *frameWatch) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.kept)
}

// said is what the session wrote first, as text.
func (w *frameWatch) said() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.head))
}

func (w *frameWatch) written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *frameWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += int64(len(p))
	if w.keep {
		w.kept = append(w.kept, p...)
	}
	if len(w.head) < 512 {
		w.head = append(w.head, p[:min(len(p), 512-len(w.head))]...)
	}
	select {
	case <-w.shown:
		return len(p), nil
	default:
	}
	look := append(w.tail, p...)
	if bytes.Contains(look, w.want) {
		close(w.shown)
		w.tail = nil
		return len(p), nil
	}
	w.tail = append(w.tail[:0], look[max(0, len(look)-len(w.want)):]...)
	return len(p), nil
}

// consoleSession is a console opened by a test, its output counted and
// thrown away.
type consoleSession struct {
	client *gossh.Client
	in     io.Writer
	out    *frameWatch
}

// console opens u's console at size and waits until it has drawn its app
// list. Closing the client ends it.
func (ts *testServer) console(u user, size TermSize) *consoleSession {
	ts.t.Helper()
	c, refused := ts.tryConsole(u, size)
	if c == nil {
		ts.t.Fatalf("%s's console at %v was refused: %s", u.name, size, refused)
	}
	return c
}

// tryConsole opens u's console at size and waits until it has drawn its
// app list, or the server refused it: then it returns what the server
// said.
func (ts *testServer) tryConsole(u user, size TermSize) (*consoleSession, string) {
	ts.t.Helper()
	client, err := ts.dial(u)
	if err != nil {
		ts.t.Fatalf("%s: dial: %v", u.name, err)
	}
	sess, err := client.NewSession()
	if err != nil {
		ts.t.Fatal(err)
	}
	w := newFrameWatch("Create an App")
	w.keep = ts.keepOutput
	sess.Stdout, sess.Stderr = w, w
	in, err := sess.StdinPipe()
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", size.Height, size.Width, gossh.TerminalModes{gossh.ECHO: 0}); err != nil {
		ts.t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { sess.Close(); client.Close() })
	ended := make(chan struct{})
	go func() { sess.Wait(); close(ended) }()
	select {
	case <-w.shown:
	case <-ended:
		client.Close()
		return nil, w.said()
	case <-time.After(60 * time.Second):
		ts.t.Fatalf("%s's console at %v drew no app list in a minute (%d bytes)", u.name, size, w.written())
	}
	return &consoleSession{client: client, in: in, out: w}, ""
}

// scroll moves the selection down n rows, one frame each: every row is
// then last drawn in a frame of its own, the most frames a screen can
// hold on to.
func (c *consoleSession) scroll(n int) error {
	for range n {
		before := c.out.written()
		if _, err := io.WriteString(c.in, "j"); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for c.out.written() == before {
			if time.Now().After(deadline) {
				return errors.New("no frame within 30 s of a keystroke")
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// seedApps fills the store with n apps of three keys each, so that a
// console at the cap has a full list to draw.
func seedApps(t testing.TB, st *store.Store, n int) {
	t.Helper()
	specs := make([]store.AppSpec, n)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("Service %04d with a name of some length", i),
			Scopes: scopes.NewSet(scopes.ModelDeploy, scopes.WorkflowExport, scopes.GuardrailDeploy),
			Keys:   []string{"prod", "staging", "ci"}}
	}
	if _, err := st.CreateApps(context.Background(), store.Actor{Name: "Loader", Role: store.Admin}, specs); err != nil {
		t.Fatal(err)
	}
}

// memory is the process's live heap after a collection, and its resident
// anonymous memory (what MemoryMax counts, the file's mapping apart).
type memory struct{ heap, resident uint64 }

func measureMemory() memory {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapAlloc, resident: residentAnonymous()}
}

// residentAnonymous is the process's resident anonymous memory in bytes,
// from /proc/self/smaps_rollup; 0 where there is none.
func residentAnonymous() uint64 {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Anonymous:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sessionCost opens a console for each viewer at size on ts, scrolls each
// through rows rows, and returns what each session adds to the process,
// heap and resident.
func sessionCost(ts *testServer, viewers []user, size TermSize, rows int) memory {
	before := measureMemory()
	var sessions []*consoleSession
	for _, v := range viewers {
		sessions = append(sessions, ts.console(v, size))
	}
	errs := make(chan error, len(sessions))
	for _, c := range sessions {
		go func() { errs <- c.scroll(rows) }()
	}
	for range sessions {
		if err := <-errs; err != nil {
			ts.t.Fatal(err)
		}
	}
	after := measureMemory()
	if prof := os.Getenv("SESSION_HEAP_PROFILE"); prof != "" && size == DefaultMaxPTY {
		writeHeapProfile(ts.t, prof)
	}
	for _, c := range sessions {
		c.client.Close()
	}
	ts.awaitOpen(0)
	n := uint64(len(viewers))
	per := func(a, b uint64) uint64 {
		if b < a {
			return 0
		}
		return (b - a) / n
	}
	return memory{heap: per(before.heap, after.heap), resident: per(before.resident, after.resident)}
}

// writeHeapProfile writes the heap's profile to path, for pprof.
func writeHeapProfile(t testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSessionMemory measures what one console session costs at the
// PTY cap, on a database whose app list fills the screen, once its user has
// scrolled down the whole screen a row at a time: heap after a collection
// and resident memory, per session, against a session at 80×24 measured in
// the same run. SESSION_HEAP_PROFILE=FILE writes the heap's profile with
// the sessions at the cap open, to see where it goes:
//
//	SESSION_HEAP_PROFILE=/tmp/heap go test ./server -run '^$' -bench SessionMemory -benchtime 1x -memprofilerate 4096
//	go tool pprof -sample_index=inuse_space -top /tmp/heap
func BenchmarkSessionMemory(b *testing.B) {
	const n = 8
	var viewers []user
	for i := range n {
		viewers = append(viewers, newUser(b, fmt.Sprintf("Viewer %d", i)))
	}
	ts := startServerWith(b, b.TempDir(), []user{newUser(b, "Alice")}, viewers, func(c *Config) {
		c.MaxSessions, c.AdminSlots = 0, 0
	})
	seedApps(b, ts.st, 300)
	var small, large memory
	for b.Loop() {
		small = sessionCost(ts, viewers, TermSize{Width: 80, Height: 24}, 24)
		large = sessionCost(ts, viewers, DefaultMaxPTY, DefaultMaxPTY.Height)
	}
	b.ReportMetric(float64(large.heap), "heap-B/session")
	b.ReportMetric(float64(large.resident), "rss-B/session")
	b.ReportMetric(float64(large.heap)/float64(max(small.heap, 1)), "heap-x-80x24")
	b.ReportMetric(float64(small.heap), "heap-B/session-80x24")
}
