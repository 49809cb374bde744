package local

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// ask is what a command does: the holder, else the file.
func ask(path, key string, scope scopes.ID, now time.Time) (d store.Decision, err error) {
	err = Reach(path, func(c *Conn) (err error) {
		d, err = c.Verify(key, scope, netip.Addr{})
		return err
	}, func() (err error) {
		d, err = bolt.VerifyFile(path, key, scope, netip.Addr{}, now)
		return err
	})
	return d, err
}

// TestHolderAnswersEveryCommand: while a holder has the file, verify (noted
// as a use), audit, backup and check are answered through its socket, from
// its store.
func TestHolderAnswersEveryCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	at := t0.Add(time.Hour)
	h := hold(t, path, func() time.Time { return at })
	if sock, err := h.Listening(); err != nil || sock != path+".sock" {
		t.Fatalf("Listening = %q, %v", sock, err)
	}
	if _, err := bolt.VerifyFile(path, key, scopes.ModelDeploy, netip.Addr{}, t0); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("the file is not held: %v", err)
	}

	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Verify(key, scopes.ModelDeploy, netip.Addr{})
	c.Close()
	if err != nil || !d.Allowed || d.App().Name != "Risk & Compliance" || d.Key().Name != "ci" {
		t.Fatalf("Verify = %+v, %v", d, err)
	}
	keys, _ := h.Store().Keys(t.Context(), d.App().ID)
	if len(keys) != 1 || !keys[0].LastUsedAt.Equal(at) {
		t.Errorf("the check through the socket was not noted as a use: %+v", keys)
	}
	if d, err := ask(path, key, scopes.GuardrailDeploy, t0); err != nil || d.Reason != store.ScopeNotGranted {
		t.Errorf("not granted: %+v, %v", d, err)
	}

	// A change in the console changes the next answer.
	app, _ := h.Store().App(t.Context(), d.App().ID)
	if _, err := h.Store().SaveApp(t.Context(), admin, app, app.Name, scopes.NewSet(scopes.GuardrailDeploy)); err != nil {
		t.Fatal(err)
	}
	if d, err := ask(path, key, scopes.GuardrailDeploy, t0); err != nil || !d.Allowed {
		t.Errorf("after the change: %+v, %v", d, err)
	}

	c, _ = Dial(path)
	var events []store.Event
	n, err := c.Audit(func(ev store.Event) error { events = append(events, ev); return nil })
	c.Close()
	want, _ := h.Store().Audit(t.Context())
	if err != nil || n != int64(len(want)) || !reflect.DeepEqual(events, want) {
		t.Errorf("Audit = %d events, %v; want %d", n, err, len(want))
	}

	c, _ = Dial(path)
	var copy bytes.Buffer
	size, err := c.Backup(&copy)
	c.Close()
	if err != nil || size != int64(copy.Len()) || size == 0 {
		t.Fatalf("Backup = %d, %v", size, err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	os.WriteFile(out, copy.Bytes(), 0o600)
	if err := bolt.CheckFile(t.Context(), out); err != nil {
		t.Errorf("the streamed copy: %v", err)
	}

	c, _ = Dial(path)
	name, apps, head, err := c.Check()
	c.Close()
	if err != nil || name != path || apps != 1 || head.Seq == 0 || len(head.Hash) != 64 {
		t.Errorf("Check = %q, %d, %v, %v", name, apps, head, err)
	}

	// Closed, the holder takes its socket with it and the file answers.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path + ".sock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket outlived its holder: %v", err)
	}
	if d, err := ask(path, key, scopes.GuardrailDeploy, t0); err != nil || !d.Allowed {
		t.Errorf("from the file: %+v, %v", d, err)
	}
}

// TestTwentyParallelVerifies: twenty commands at once all get an answer,
// with a holder and without one.
func TestTwentyParallelVerifies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	run := func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				d, err := ask(path, key, scopes.ModelDeploy, t0)
				if err == nil && !d.Allowed {
					err = errors.New(string(d.Reason))
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	}
	t.Run("no holder", run)
	h := hold(t, path, fixed)
	t.Run("holder", run)
	h.Close()
	t.Run("no holder again", run)
}

// TestStaleSocket: a socket left by a process that was killed does not stop
// commands, and the next holder replaces it.
func TestStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	p, err := locate(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, _, err := listen(p)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the socket stays, with no one behind it
	if _, err := os.Lstat(p.sock); err != nil {
		t.Fatal(err)
	}
	if d, err := ask(path, key, scopes.ModelDeploy, t0); err != nil || !d.Allowed {
		t.Fatalf("beside a stale socket: %+v, %v", d, err)
	}
	hold(t, path, fixed)
	if d, err := ask(path, key, scopes.ModelDeploy, t0); err != nil || !d.Allowed {
		t.Fatalf("through the new holder: %+v, %v", d, err)
	}
}

// TestHolderStillOpening: a holder listens as soon as it has the lock;
// while its store is still opening it answers verify from the file (not
// noted as a use) and keeps the other commands waiting with heartbeats,
// however long the opening takes.
func TestHolderStillOpening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	release := make(chan struct{})
	beforeStore = func() { <-release }
	defer func() { beforeStore = func() {} }()
	opened := make(chan *Holder)
	go func() {
		h, err := OpenStore(path, Options{}, store.WithClock(fixed), store.WithMaintenance(0))
		if err != nil {
			t.Error(err)
		}
		opened <- h
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !exists(path+".sock") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if d, err := ask(path, key, scopes.ModelDeploy, t0); err != nil || !d.Allowed {
		t.Fatalf("verify while opening: %+v, %v", d, err)
	}
	checked := make(chan error, 1)
	go func() {
		c, err := Dial(path)
		if err == nil {
			defer c.Close()
			_, _, _, err = c.Check()
		}
		checked <- err
	}()
	time.Sleep(AnswerTimeout + time.Second) // longer than a silent holder is waited for
	close(release)
	if err := <-checked; err != nil {
		t.Errorf("check while opening: %v", err)
	}
	h := <-opened
	defer h.Close()
	keys, _ := h.Store().Keys(t.Context(), 1)
	if len(keys) != 1 || !keys[0].LastUsedAt.IsZero() {
		t.Errorf("a check answered from the file was noted as a use: %+v", keys)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// TestHolderOfSchema1: a holder migrates the old file (keeping a checked
// copy) and answers its keys.
func TestHolderOfSchema1(t *testing.T) {
	path := copyFixture(t)
	keys := fixtureKeys()
	h := hold(t, path, func() time.Time { return fixtureNow })
	for _, tt := range []struct {
		key    int
		scope  scopes.ID
		reason store.Reason
	}{
		{0, scopes.ModelDeploy, store.Allowed},
		{2, scopes.GuardrailDeploy, store.Allowed},
		{3, scopes.ModelImport, store.UnknownKey},
		{4, scopes.GuardrailUndeploy, store.ScopeNotGranted},
	} {
		d, err := ask(path, keys[tt.key], tt.scope, fixtureNow)
		if err != nil || d.Reason != tt.reason {
			t.Errorf("key %d, %s: %+v, %v; want %s", tt.key+1, tt.scope, d, err, tt.reason)
		}
	}
	c, _ := Dial(path)
	if _, _, _, err := c.Check(); err != nil {
		t.Errorf("the migrated file: %v", err)
	}
	c.Close()
	copies, _ := filepath.Glob(path + ".schema1-*.bak")
	if len(copies) != 1 {
		t.Errorf("copies kept before the migration: %v", copies)
	}
	h.Close()
	if d, err := bolt.VerifyFile(path, keys[0], scopes.ModelDeploy, netip.Addr{}, fixtureNow); err != nil || !d.Allowed {
		t.Errorf("the migrated file, read directly: %+v, %v", d, err)
	}
}

// TestWriterWaitsOutReaders: commands reading the file (shared locks) make
// a console wait rather than fail; a file held by another holder is
// refused within the timeout.
func TestWriterWaitsOutReaders(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	seeded(t, path)
	reader, err := bolt.Open(path, bolt.Options{ReadOnly: true, SkipPageCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(1500 * time.Millisecond) // longer than the timeout for a holder
		reader.Close()
	}()
	start := time.Now()
	h, err := OpenStore(path, Options{Timeout: 500 * time.Millisecond}, store.WithMaintenance(0))
	if err != nil {
		t.Fatalf("the console gave up on a file commands were reading: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("opened after %v, while a reader held the file", waited)
	}
	defer h.Close()

	start = time.Now()
	_, err = OpenStore(path, Options{Timeout: 500 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("a second holder: %v", err)
	}
	if waited := time.Since(start); waited > 5*time.Second { // its 500 ms, and room for a loaded machine
		t.Errorf("a second holder took %v to give up", waited)
	}
}
