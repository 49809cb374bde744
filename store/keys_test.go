package store

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
)

func TestCreateKey(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, key, err := s.CreateKey(admin, app.ID, "  CI pipeline ")
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 53 || !strings.HasPrefix(text, "aps_") {
		t.Errorf("key text %q: want 53 characters starting aps_", text)
	}
	if err := CheckKey(text); err != nil {
		t.Errorf("CheckKey of a new key: %v", err)
	}
	want := Key{ID: 1, AppID: app.ID, Name: "CI pipeline", Hint: "aps_…" + text[len(text)-4:],
		CreatedBy: "Ada", CreatedAt: epoch.Add(time.Second)}
	if key != want {
		t.Errorf("CreateKey key = %+v\nwant %+v", key, want)
	}
	keys, err := s.Keys(app.ID)
	if err != nil || len(keys) != 1 || keys[0] != want {
		t.Errorf("Keys = %+v, %v", keys, err)
	}
	got, _ := s.App(app.ID)
	if got.Keys != 1 || got.Revision != 2 {
		t.Errorf("after CreateKey: app Keys = %d, Revision = %d; want 1, 2", got.Keys, got.Revision)
	}
}

func TestCreateKeyIsDeterministicWithInjectedRandom(t *testing.T) {
	newKey := func() string {
		s := newTestStore(t)
		app := mustCreateApp(t, s, "Risk", scopes.Full())
		text, _ := mustCreateKey(t, s, app.ID, "ci")
		return text
	}
	if a, b := newKey(), newKey(); a != b {
		t.Error("the same random source gave different keys")
	}
}

func TestKeysOldestFirst(t *testing.T) {
	s := newTestStore(t)
	a := mustCreateApp(t, s, "A", scopes.Full())
	b := mustCreateApp(t, s, "B", scopes.Full())
	// Interleave the apps so key ids of one app are not contiguous.
	for _, n := range []string{"one", "two", "three"} {
		mustCreateKey(t, s, a.ID, n)
		mustCreateKey(t, s, b.ID, n)
	}
	for _, app := range []App{a, b} {
		keys, err := s.Keys(app.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for i, k := range keys {
			names = append(names, k.Name)
			if k.AppID != app.ID {
				t.Errorf("Keys(%d) holds key %d of app %d", app.ID, k.ID, k.AppID)
			}
			if i > 0 && !keys[i-1].CreatedAt.Before(k.CreatedAt) {
				t.Errorf("Keys(%d) not oldest first", app.ID)
			}
		}
		if strings.Join(names, ",") != "one,two,three" {
			t.Errorf("Keys(%d) names = %v", app.ID, names)
		}
	}
}

func TestKeysOfAppWithoutKeys(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.Full())
	keys, err := s.Keys(app.ID)
	if err != nil || len(keys) != 0 {
		t.Errorf("Keys = %v, %v; want none", keys, err)
	}
}

func TestKeyNames(t *testing.T) {
	s := newTestStore(t)
	a := mustCreateApp(t, s, "A", scopes.Full())
	b := mustCreateApp(t, s, "B", scopes.Full())
	mustCreateKey(t, s, a.ID, "Deploy bot")

	// The same name in another app is fine.
	mustCreateKey(t, s, b.ID, "Deploy bot")

	bad := []struct {
		name string
		err  error
	}{
		{"Deploy bot", ErrNameTaken},
		{"DEPLOY BOT", ErrNameTaken},
		{" deploy bot ", ErrNameTaken},
		{"", ErrNameEmpty},
		{"   ", ErrNameEmpty},
		{strings.Repeat("k", 65), ErrNameTooLong},
		{"bot\x1b]52;c;aGk=\x07", ErrNameInvalid},
		{"bot\u202E", ErrNameInvalid},
	}
	before := takeSnapshot(t, s)
	for _, tt := range bad {
		if _, _, err := s.CreateKey(admin, a.ID, tt.name); !errors.Is(err, tt.err) {
			t.Errorf("CreateKey(%q) = %v, want %v", tt.name, err, tt.err)
		}
	}
	if !before.equal(takeSnapshot(t, s)) {
		t.Error("a refused CreateKey wrote to the store")
	}
	// Once deleted, a key's name can be reused.
	keys, _ := s.Keys(a.ID)
	if err := s.DeleteKey(admin, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateKey(admin, a.ID, "deploy BOT"); err != nil {
		t.Errorf("reusing a deleted key's name: %v", err)
	}
}

func TestDeleteKey(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.Full())
	text1, k1 := mustCreateKey(t, s, app.ID, "one")
	text2, k2 := mustCreateKey(t, s, app.ID, "two")
	if got, _ := s.App(app.ID); got.Keys != 2 || got.Revision != 3 {
		t.Fatalf("app Keys = %d, Revision = %d; want 2, 3", got.Keys, got.Revision)
	}

	if err := s.DeleteKey(admin, k1.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := s.App(app.ID)
	if got.Keys != 1 || got.Revision != 4 {
		t.Errorf("after DeleteKey: app Keys = %d, Revision = %d; want 1, 4", got.Keys, got.Revision)
	}
	keys, _ := s.Keys(app.ID)
	if len(keys) != 1 || keys[0] != k2 {
		t.Errorf("Keys after DeleteKey = %+v", keys)
	}
	if d, _ := s.Verify(text1, scopes.ModelDeploy); d.Reason != UnknownKey {
		t.Errorf("deleted key: Verify reason = %s, want unknown_key", d.Reason)
	}
	if d, _ := s.Verify(text2, scopes.ModelDeploy); !d.Allowed {
		t.Errorf("the other key: Verify = %v", d)
	}
	if err := s.DeleteKey(admin, k1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a key twice: %v, want ErrNotFound", err)
	}
	if got, _ := s.App(app.ID); got.Keys != 1 {
		t.Errorf("a failed DeleteKey changed Keys to %d", got.Keys)
	}
}

func TestCreateKeyRandomFailure(t *testing.T) {
	s := newTestStore(t, WithRandom(strings.NewReader("short")))
	app := mustCreateApp(t, s, "Risk", scopes.Full())
	before := takeSnapshot(t, s)
	if text, _, err := s.CreateKey(admin, app.ID, "ci"); err == nil || text != "" {
		t.Errorf("CreateKey with a failing random source = %q, %v; want an error", text, err)
	}
	if !before.equal(takeSnapshot(t, s)) {
		t.Error("a failed CreateKey wrote to the store")
	}
}

// A random source that repeats itself must not make two apps share a key.
func TestCreateKeyRepeatedRandom(t *testing.T) {
	s := newTestStore(t, WithRandom(zeroReader{}))
	app := mustCreateApp(t, s, "Risk", scopes.Full())
	mustCreateKey(t, s, app.ID, "first")
	before := takeSnapshot(t, s)
	if _, _, err := s.CreateKey(admin, app.ID, "second"); err == nil {
		t.Fatal("CreateKey accepted a key equal to an existing one")
	}
	if !before.equal(takeSnapshot(t, s)) {
		t.Error("a refused CreateKey wrote to the store")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// overlapReader counts reads that start while another is under way. It
// stays usable (its own lock guards the stream) so the test can finish.
type overlapReader struct {
	mu       sync.Mutex
	r        io.Reader
	busy     atomic.Int32
	overlaps atomic.Int32
}

func (o *overlapReader) Read(p []byte) (int, error) {
	if o.busy.Add(1) != 1 {
		o.overlaps.Add(1)
	}
	defer o.busy.Add(-1)
	time.Sleep(time.Millisecond) // widen the window a concurrent read would hit
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.r.Read(p)
}

// The store is safe for concurrent use, and so is its use of an injected
// random source that is not (such as a seeded ChaCha8).
func TestCreateKeyConcurrent(t *testing.T) {
	random := &overlapReader{r: testRandom(5)}
	s := newTestStore(t, WithRandom(random))
	app := mustCreateApp(t, s, "Risk", scopes.Full())
	const workers, each = 4, 5
	errs := make(chan error, workers*each)
	texts := make(chan string, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				text, _, err := s.CreateKey(admin, app.ID, fmt.Sprintf("key %d.%d", w, i))
				errs <- err
				texts <- text
			}
		})
	}
	wg.Wait()
	close(errs)
	close(texts)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for text := range texts {
		if seen[text] {
			t.Errorf("key issued twice")
		}
		seen[text] = true
		if d, _ := s.Verify(text, scopes.ModelDeploy); !d.Allowed {
			t.Errorf("Verify = %v", d)
		}
	}
	if n := random.overlaps.Load(); n != 0 {
		t.Errorf("%d reads of the random source overlapped another read", n)
	}
	if got, _ := s.App(app.ID); got.Keys != workers*each {
		t.Errorf("app Keys = %d, want %d", got.Keys, workers*each)
	}
}
