package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"apiscopes/scopes"
)

// Actors used throughout the tests.
var (
	admin  = Actor{Name: "Ada", Role: Admin, Origin: "local"}
	viewer = Actor{Name: "Vic", Role: Viewer, Origin: "ssh 127.0.0.1"}
	noName = Actor{Role: Admin}
	noRole = Actor{Name: "Nora"}
)

// epoch is the first instant the test clock reports.
var epoch = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// testClock is a fixed clock that moves one second forward on every reading,
// so every change made in a test has a distinct, predictable time.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: epoch.Add(-time.Second)} }

// advance moves the clock forward by d at once.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// peek is the time the clock shows now, without moving it.
func (c *testClock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// testRandom is a deterministic stream standing in for crypto/rand.
func testRandom(seed byte) *rand.ChaCha8 {
	var s [32]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	return rand.NewChaCha8(s)
}

// newTestStore opens a fresh database in a temporary folder with a test
// clock and random source, and closes it when the test ends.
func newTestStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	opts = append([]Option{WithClock(newTestClock().Now), WithRandom(testRandom(1)), WithMaintenance(0)}, opts...)
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustCreateApp creates an app as admin or fails the test.
func mustCreateApp(t testing.TB, s *Store, name string, set scopes.Set) App {
	t.Helper()
	app, err := s.CreateApp(admin, name, set)
	if err != nil {
		t.Fatalf("CreateApp(%q, %v): %v", name, set, err)
	}
	return app
}

// mustCreateKey creates a key as admin or fails the test.
func mustCreateKey(t testing.TB, s *Store, appID uint64, name string) (string, Key) {
	t.Helper()
	text, key, err := s.CreateKey(admin, appID, name)
	if err != nil {
		t.Fatalf("CreateKey(%d, %q): %v", appID, name, err)
	}
	return text, key
}

// snapshot is everything a caller can read from the store.
type snapshot struct {
	apps  []App
	keys  map[uint64][]Key
	audit []Event
}

func takeSnapshot(t *testing.T, s *Store) snapshot {
	t.Helper()
	apps, err := s.Apps()
	if err != nil {
		t.Fatalf("Apps: %v", err)
	}
	snap := snapshot{apps: apps, keys: map[uint64][]Key{}}
	for _, a := range apps {
		if snap.keys[a.ID], err = s.Keys(a.ID); err != nil {
			t.Fatalf("Keys(%d): %v", a.ID, err)
		}
	}
	if snap.audit, err = s.Audit(); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return snap
}

func (a snapshot) equal(b snapshot) bool {
	if len(a.apps) != len(b.apps) || len(a.audit) != len(b.audit) || len(a.keys) != len(b.keys) {
		return false
	}
	for i := range a.apps {
		if !appsEqual(a.apps[i], b.apps[i]) {
			return false
		}
	}
	for id, ks := range a.keys {
		if len(ks) != len(b.keys[id]) {
			return false
		}
		for i := range ks {
			if ks[i] != b.keys[id][i] {
				return false
			}
		}
	}
	for i := range a.audit {
		if a.audit[i].Seq != b.audit[i].Seq {
			return false
		}
	}
	return true
}

func appsEqual(a, b App) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Scopes == b.Scopes && a.CreatedBy == b.CreatedBy &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedBy == b.UpdatedBy && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.Revision == b.Revision && a.Keys == b.Keys
}

func TestOpenCreatesPrivateFolderAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "apiscopes")
	path := filepath.Join(dir, "apiscopes.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s has mode %v, want %v", c.path, got, c.want)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	s, err := Open(path, WithClock(newTestClock().Now), WithRandom(testRandom(2)))
	if err != nil {
		t.Fatal(err)
	}
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, _ := mustCreateKey(t, s, app.ID, "ci")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.App(app.ID)
	if err != nil || !appsEqual(got, App{ID: app.ID, Name: "Risk", Scopes: app.Scopes, CreatedBy: "Ada",
		CreatedAt: app.CreatedAt, UpdatedBy: "Ada", UpdatedAt: app.UpdatedAt, Revision: 2, Keys: 1}) {
		t.Errorf("after reopen App = %+v, %v", got, err)
	}
	d, err := s.Verify(text, scopes.ModelDeploy)
	if err != nil || !d.Allowed {
		t.Errorf("after reopen Verify = %v, %v", d, err)
	}
}

func TestOpenLocked(t *testing.T) {
	s := newTestStore(t)
	start := time.Now()
	s2, err := Open(s.Path())
	elapsed := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a held database succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("err = %v, want ErrLocked", err)
	}
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("err %T is not *LockedError", err)
	}
	if le.Path != s.Path() || !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("error %q does not name %s", err, s.Path())
	}
	// The default lock timeout is one second; allow for a slow machine.
	if elapsed > 3*time.Second {
		t.Errorf("Open gave up after %v, want about 1s", elapsed)
	}

	// The store that holds the lock still works.
	if _, err := s.CreateApp(admin, "", scopes.Full()); err != nil {
		t.Errorf("holder of the lock: %v", err)
	}
}

func TestOpenLockTimeoutOption(t *testing.T) {
	s := newTestStore(t)
	start := time.Now()
	_, err := Open(s.Path(), WithLockTimeout(50*time.Millisecond))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if elapsed := time.Since(start); elapsed > 900*time.Millisecond {
		t.Errorf("Open with a 50ms lock timeout took %v", elapsed)
	}
}

func TestOpenAfterCloseSucceeds(t *testing.T) {
	s := newTestStore(t)
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, WithLockTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestOpenNotADatabase(t *testing.T) {
	garbage := bytes.Repeat([]byte("This is a shopping list, not a database.\n"), 200)[:8192]
	random := make([]byte, 8192)
	testRandom(3).Read(random)

	tests := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"text", func(t *testing.T, path string) { writeFile(t, path, garbage) }},
		{"random bytes", func(t *testing.T, path string) { writeFile(t, path, random) }},
		// bbolt refuses files shorter than two pages with an error of its own.
		{"one byte", func(t *testing.T, path string) { writeFile(t, path, []byte("x")) }},
		{"4 KiB of text", func(t *testing.T, path string) { writeFile(t, path, garbage[:4096]) }},
		{"6000 bytes of text", func(t *testing.T, path string) { writeFile(t, path, garbage[:6000]) }},
		{"4 KiB of zeros", func(t *testing.T, path string) { writeFile(t, path, make([]byte, 4096)) }},
		{"another program's bbolt file", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("other"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"another schema", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("meta"))
				if err != nil {
					return err
				}
				return b.Put([]byte("schema"), []byte("apiscopes/99"))
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "file.db")
			tt.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, WithLockTimeout(100*time.Millisecond))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrNotDatabase) {
				t.Errorf("err = %v, want ErrNotDatabase", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("Open changed the file it refused")
			}
			// The refused file is not left locked.
			if db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond, ReadOnly: true}); err == nil {
				db.Close()
			} else if errors.Is(err, bolterrors.ErrTimeout) {
				t.Errorf("file still locked after a refused Open: %v", err)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultPath(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name string
		xdg  string
		want string
	}{
		{"xdg set", "/srv/data", "/srv/data/apiscopes/apiscopes.db"},
		{"xdg unset", "", filepath.Join(home, ".local", "share", "apiscopes", "apiscopes.db")},
		{"xdg relative", "data", filepath.Join(home, ".local", "share", "apiscopes", "apiscopes.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("XDG_DATA_HOME", tt.xdg)
			if tt.xdg == "" {
				os.Unsetenv("XDG_DATA_HOME") // restored by t.Setenv's cleanup
			}
			got, err := DefaultPath()
			if err != nil || got != tt.want {
				t.Errorf("DefaultPath() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDefaultPathWithoutHome(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "")
	if got, err := DefaultPath(); err == nil {
		t.Errorf("DefaultPath() = %q with no HOME and no XDG_DATA_HOME; want an error", got)
	}
}

// The database must never hold a key's text: only its SHA-256 digest.
func TestNoPlaintextKeysAtRest(t *testing.T) {
	s := newTestStore(t)
	a := mustCreateApp(t, s, "Payments", scopes.Full())
	b := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	var texts []string
	for i, app := range []App{a, a, b, b, a} {
		text, _ := mustCreateKey(t, s, app.ID, "key "+string(rune('A'+i)))
		texts = append(texts, text)
	}
	// A deleted key must not linger either.
	keys, err := s.Keys(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKey(admin, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	events, err := s.Audit()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		secret := text[len(KeyPrefix) : KeyLen-checksumLen]
		if bytes.Contains(raw, []byte(text)) {
			t.Errorf("key %d: its text is in the database file", i)
		}
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("key %d: its secret part is in the database file", i)
		}
		if i == 2 {
			continue // deleted: its digest may or may not remain in a free page
		}
		digest := keyDigest(text)
		if !bytes.Contains(raw, digest[:]) {
			t.Errorf("key %d: its SHA-256 digest is not in the database file", i)
		}
	}
	for _, ev := range events {
		for i, text := range texts {
			if strings.Contains(eventJSON(t, ev), text[len(KeyPrefix):KeyLen-checksumLen]) {
				t.Errorf("audit event %d holds key %d", ev.Seq, i)
			}
		}
	}
}
