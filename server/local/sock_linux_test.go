package local

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// impostor listens on a socket it was given and keeps whatever commands
// send it: a key must never arrive there.
type impostor struct {
	ln   *net.UnixListener
	mu   sync.Mutex
	got  []byte
	wg   sync.WaitGroup
	conn int
}

func listenImpostor(t *testing.T, addr string) *impostor {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	im := &impostor{ln: ln}
	im.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			im.mu.Lock()
			im.conn++
			im.mu.Unlock()
			im.wg.Go(func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				b, _ := io.ReadAll(c)
				im.mu.Lock()
				im.got = append(im.got, b...)
				im.mu.Unlock()
			})
		}
	})
	t.Cleanup(im.close)
	return im
}

func (im *impostor) close() { im.ln.Close(); im.wg.Wait() }

// received is what the impostor was sent, once every connection ended.
func (im *impostor) received() string {
	im.close()
	im.mu.Lock()
	defer im.mu.Unlock()
	return string(im.got)
}

// holdWithoutSocket holds the file as an engine does, with no socket.
func holdWithoutSocket(t *testing.T, path string) *bolt.Engine {
	t.Helper()
	e, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// refusedFast asks for the key while the file is held and the socket is
// not to be used: the command says the file is held, why it did not ask,
// within FindTimeout and a little, and the key stays here.
func refusedFast(t *testing.T, path, key, why string) {
	t.Helper()
	start := time.Now()
	_, err := ask(path, key, scopes.ModelDeploy, t0)
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), why) ||
		!strings.Contains(err.Error(), path) {
		t.Errorf("ask = %v; want a HeldError naming the file and saying %q", err, why)
	}
	if took := time.Since(start); took > FindTimeout+time.Second {
		t.Errorf("the command took %v to give up", took)
	}
}

// TestSocketInAFolderOthersCanWrite: a holder does not listen there, and a
// command does not send a key to a socket there.
func TestSocketInAFolderOthersCanWrite(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "shared")
	os.Mkdir(dir, 0o700)
	path := filepath.Join(dir, "apiscopes.db")
	key := seeded(t, path)
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	h := hold(t, path, fixed)
	if _, err := h.Listening(); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "others can write its folder") {
		t.Fatalf("Listening = %v", err)
	}
	if exists(path + ".sock") {
		t.Fatal("the holder listens in a folder others can write")
	}
	im := listenImpostor(t, path+".sock")
	refusedFast(t, path, key, "others can write its folder")
	if got := im.received(); got != "" {
		t.Errorf("the socket was sent %q", got)
	}
}

// TestSocketOfAnotherUser: a socket the database's owner did not make, or
// a process of another user behind it, never gets the key.
func TestSocketOfAnotherUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	holdWithoutSocket(t, path)

	t.Run("peer of another uid", func(t *testing.T) {
		im := listenImpostor(t, path+".sock")
		defer os.Remove(path + ".sock")
		playPeer(t, uint32(os.Getuid())+1)
		refusedFast(t, path, key, "runs as another user than the database's owner")
		if got := im.received(); got != "" {
			t.Errorf("the impostor was sent %q", got)
		}
	})
	t.Run("socket owned by another uid", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("giving a file to another user takes root")
		}
		im := listenImpostor(t, path+".sock")
		defer os.Remove(path + ".sock")
		if err := os.Lchown(path+".sock", 65534, 65534); err != nil {
			t.Fatal(err)
		}
		refusedFast(t, path, key, "belongs to another user than the database")
		if got := im.received(); got != "" {
			t.Errorf("the impostor was sent %q", got)
		}
	})
	t.Run("not a socket", func(t *testing.T) {
		elsewhere := filepath.Join(t.TempDir(), "real.sock")
		im := listenImpostor(t, elsewhere)
		if err := os.Symlink(elsewhere, path+".sock"); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path + ".sock")
		refusedFast(t, path, key, "is not a socket")
		if got := im.received(); got != "" {
			t.Errorf("the link's target was sent %q", got)
		}
	})
}

// TestHolderKeepsAFileInItsPlace: a file where the socket would go that is
// not a socket is not removed; the holder does without.
func TestHolderKeepsAFileInItsPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	seeded(t, path)
	os.WriteFile(path+".sock", []byte("notes"), 0o600)
	h := hold(t, path, fixed)
	if _, err := h.Listening(); !errors.Is(err, ErrNoSocket) {
		t.Errorf("Listening = %v", err)
	}
	h.Close()
	if b, _ := os.ReadFile(path + ".sock"); string(b) != "notes" {
		t.Errorf("the file became %q", b)
	}
}

// rawAsk sends a request line on a connection of its own, with none of a
// command's checks, and returns the answer's first frame.
func rawAsk(t *testing.T, path, line string) (byte, string) {
	t.Helper()
	c, err := net.Dial("unix", path+".sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, line+"\n")
	kind, payload, err := readFrame(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return kind, string(payload)
}

// TestHolderRefusals: a holder answers only its own user, and only the
// protocol it speaks.
func TestHolderRefusals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	hold(t, path, fixed)
	digest := store.KeyDigest(key)
	req := string(mustJSON(request{V: Version, Op: "verify", Digest: hex.EncodeToString(digest[:]), Scope: "model:deploy"}))
	if kind, payload := rawAsk(t, path, req); kind != frameResult || !strings.Contains(payload, `"Reason":"allowed"`) {
		t.Fatalf("a good request: %c %s", kind, payload)
	}
	for _, tt := range []struct{ name, line, says string }{
		{"another version", strings.Replace(req, `"v":2`, `"v":1`, 1), "speaks protocol version 2, the command 1"},
		{"not JSON", "verify " + key, "not valid JSON"},
		{"unknown request", `{"v":2,"op":"delete"}`, `unknown request "delete"`},
		{"a key's text", `{"v":2,"op":"verify","key":"` + key + `","scope":"model:deploy"}`, "names no key digest"},
	} {
		kind, payload := rawAsk(t, path, tt.line)
		var e errorBody
		json.Unmarshal([]byte(payload), &e)
		if kind != frameError || e.V != Version || !strings.Contains(e.Error, tt.says) {
			t.Errorf("%s: %c %s; want an error saying %q", tt.name, kind, payload, tt.says)
		}
		if strings.Contains(payload, key) {
			t.Errorf("%s: the answer holds the key", tt.name)
		}
	}
	playPeer(t, 12345)
	if kind, payload := rawAsk(t, path, req); kind != frameError || !strings.Contains(payload, "answers only commands of its own user") {
		t.Errorf("another user: %c %s", kind, payload)
	}
}

// TestSilentHolder: a holder that accepts and never answers (a console
// stopped with ctrl+z) fails the command within AnswerTimeout and a little.
func TestSilentHolder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	holdWithoutSocket(t, path)
	p, _ := locate(path)
	ln, _, err := listen(p) // bound, and never accepting: as a stopped process
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	_, err = ask(path, key, scopes.ModelDeploy, t0)
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "stopped with ctrl+z") {
		t.Errorf("ask = %v", err)
	}
	// It waits out AnswerTimeout, and gives up then (with room for a
	// loaded machine under the race detector): never a hang.
	if took := time.Since(start); took < AnswerTimeout || took > AnswerTimeout+5*time.Second {
		t.Errorf("gave up after %v, want about %v", took, AnswerTimeout)
	}
}

// TestConnectionCap: a holder serves MaxConns commands at once; the next
// waits for a place, and gets one when a command ends.
func TestConnectionCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	hold(t, path, fixed)
	var idle []net.Conn
	for range MaxConns {
		c, err := net.Dial("unix", path+".sock")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	answered := make(chan error, 1)
	go func() {
		c, err := Dial(path)
		if err == nil {
			_, err = c.Verify(key, scopes.ModelDeploy, netip.Addr{})
			c.Close()
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a command past the cap was answered at once (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	idle[0].Close()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(AnswerTimeout):
		t.Fatal("the waiting command was not answered when a place freed")
	}
}

// TestLongPaths: past the 108 bytes a socket's address holds, the holder
// and commands meet through the folder's descriptor; a file name too long
// even for that means no socket, and commands fall back to the file.
func TestLongPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for len(dir) < 150 {
		dir = filepath.Join(dir, "a-folder-with-a-long-name")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "apiscopes.db")
	key := seeded(t, path)
	h := hold(t, path, fixed)
	if sock, err := h.Listening(); err != nil || len(sock) <= maxSunPath {
		t.Fatalf("Listening = %q (%d bytes), %v", sock, len(sock), err)
	}
	if d, err := ask(path, key, scopes.ModelDeploy, t0); err != nil || !d.Allowed {
		t.Fatalf("through a long path: %+v, %v", d, err)
	}
	h.Close()
	if exists(path + ".sock") {
		t.Error("the socket at a long path outlived its holder")
	}

	long := filepath.Join(t.TempDir(), strings.Repeat("n", 120)+".db")
	key = seeded(t, long)
	h = hold(t, long, fixed)
	if _, err := h.Listening(); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("Listening = %v", err)
	}
	refusedFast(t, long, key, "does not answer local commands")
	h.Close()
	if d, err := ask(long, key, scopes.ModelDeploy, t0); err != nil || !d.Allowed {
		t.Fatalf("from the file: %+v, %v", d, err)
	}
}

// TestFileSystemWithoutSockets: where a socket cannot be made, the holder
// works without one; commands say the file is held, and read it once free.
func TestFileSystemWithoutSockets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	listenUnix = func(string) (*net.UnixListener, error) { return nil, syscall.EOPNOTSUPP }
	defer func() {
		listenUnix = func(addr string) (*net.UnixListener, error) {
			return net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
		}
	}()
	h := hold(t, path, fixed)
	if _, err := h.Listening(); !errors.Is(err, ErrNoSocket) || !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("Listening = %v", err)
	}
	if _, err := h.Store().CreateApp(t.Context(), admin, "Works", scopes.Full()); err != nil {
		t.Fatal(err)
	}
	refusedFast(t, path, key, "does not answer local commands")
	start := time.Now()
	if _, err := OpenStore(path, Options{}); !errors.Is(err, store.ErrLocked) {
		t.Errorf("a second holder: %v", err)
	} else if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a second holder took %v to give up on a holder without a socket", took)
	}
	h.Close()
	if d, err := ask(path, key, scopes.ModelDeploy, t0); err != nil || !d.Allowed {
		t.Fatalf("from the file: %+v, %v", d, err)
	}
}

// playPeer makes every connection seem, to both ends, to come from uid
// until the test ends.
func playPeer(t *testing.T, uid uint32) {
	f := func(*net.UnixConn) (uint32, error) { return uid, nil }
	fakePeer.Store(&f)
	t.Cleanup(func() { fakePeer.Store(nil) })
}
