// Package storetest is the conformance suite of apiscopes engines, and what
// tests of the store and of what sits on it share: a stepping clock, seeded
// random sources, the key format written again from its specification, an
// engine that holds every change to etcd's limits, and (on Linux) a disk
// that fails under an open database file.
//
// An engine is valid when Run passes on it:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: func(t *testing.T) func(*testing.T) store.Engine {
//			path := filepath.Join(t.TempDir(), "apiscopes.db")
//			return func(t *testing.T) store.Engine { e, err := bolt.Open(path, bolt.Options{}); ...; return e }
//		}})
//	}
//
// Every test of the suite runs on a database of its own, through stores
// opened with the injected clock and random source, and with every change
// held to etcd's limits on one transaction.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// Harness is what the suite needs of an engine.
type Harness struct {
	// New makes an empty database for one test and returns how to open an
	// engine on it. The suite opens it again after closing the store on
	// the previous engine (a reopen), and, if Shared, while that store is
	// still open (a second replica). A test's engines are closed by the
	// stores on them; New cleans up what else it made with t.Cleanup.
	New func(t *testing.T) (open func(t *testing.T) store.Engine)
	// Shared says that engines on one database may be open at once, as
	// replicas on one cluster are. The tests of replicas run only then.
	Shared bool
	// Scale divides the number of operations of the concurrency cases
	// (1 if zero): an engine whose every commit is a network round trip
	// runs the same races with fewer of them.
	Scale int
}

// scaled is n divided by the harness's scale, at least 1.
func (h Harness) scaled(n int) int {
	if h.Scale > 1 {
		return max(1, n/h.Scale)
	}
	return n
}

// Run runs every test of the suite on engines the harness opens.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: the harness has no New")
	}
	for _, group := range suite {
		t.Run(group.name, func(t *testing.T) {
			for _, c := range group.cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, newEnv(t, h)) })
			}
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// suite is every test, by the guarantee it proves.
var suite = []struct {
	name  string
	cases []testCase
}{
	{"Engine", engineCases},
	{"Apps", appCases},
	{"Names", nameCases},
	{"Keys", keyCases},
	{"Lifecycle", lifecycleCases},
	{"Verify", verifyCases},
	{"Conflict", conflictCases},
	{"Roles", roleCases},
	{"Audit", auditCases},
	{"Chain", chainCases},
	{"State", stateCases},
	{"Bulk", bulkCases},
	{"Hostile", hostileCases},
	{"Concurrency", concurrencyCases},
	{"Feed", feedCases},
	{"Schema", schemaCases},
	{"Policy", policyCases},
	{"AtRest", atRestCases},
	{"Check", checkCases},
	{"Replicas", replicaCases},
}

// Actors of the tests.
var (
	Admin  = store.Actor{Name: "Ada", Role: store.Admin, Origin: "local"}
	Viewer = store.Actor{Name: "Vic", Role: store.Viewer, Origin: "ssh 127.0.0.1"}
)

// Epoch is the first reading of a test clock the suite makes.
var Epoch = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// Clock is a test clock: every reading is one second after the one before,
// so every change a test makes has a distinct, predictable time. Advance
// moves it on at once. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock whose first reading is first.
func NewClock(first time.Time) *Clock { return &Clock{t: first.Add(-time.Second)} }

// Now is the next reading: a second after the previous one.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// Peek is the last reading, without moving the clock.
func (c *Clock) Peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Random is a deterministic stream standing in for crypto/rand, safe for
// concurrent use (stores on one database may share it).
func Random(seed byte) io.Reader {
	var s [32]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	return &lockedReader{r: rand.NewChaCha8(s)}
}

type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// Recorder is a random source that keeps what it hands out, so that a test
// can re-derive keys that were generated and then forgotten (CreateApps).
type Recorder struct {
	mu  sync.Mutex
	r   io.Reader
	out []byte
}

// NewRecorder records what r hands out.
func NewRecorder(r io.Reader) *Recorder { return &Recorder{r: r} }

func (r *Recorder) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.r.Read(p)
	r.out = append(r.out, p[:n]...)
	return n, err
}

// Keys is every key drawn so far, in order: each 32 bytes handed out as a
// key's text (a key draws exactly its 256 random bits).
func (r *Recorder) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for b := r.out; len(b) >= 32; b = b[32:] {
		out = append(out, KeyText(b[:32]))
	}
	return out
}

// env is one test's database and the store open on it.
type env struct {
	t      *testing.T
	h      Harness
	open   func(t *testing.T) store.Engine
	clock  *Clock
	random io.Reader
	st     *store.Store
	eng    *Limited // the engine under st
}

func newEnv(t *testing.T, h Harness) *env {
	e := &env{t: t, h: h, open: h.New(t), clock: NewClock(Epoch), random: Random(1)}
	e.st, e.eng = e.store()
	return e
}

// store opens another store on the test's database, with the test's clock
// and random source, no background work, and every change held to etcd's
// limits. It is closed when the test ends, if not before.
func (e *env) store(opts ...store.Option) (*store.Store, *Limited) {
	e.t.Helper()
	eng := Limit(e.open(e.t))
	base := []store.Option{store.WithClock(e.clock.Now), store.WithRandom(e.random), store.WithMaintenance(0)}
	st, err := store.New(eng, append(base, opts...)...)
	if err != nil {
		e.t.Fatalf("open a store: %v", err)
	}
	e.t.Cleanup(func() {
		e.checkAtEnd(context.Background(), st, eng) // the test's context has ended by now
		st.Close()
		eng.Verify(e.t)
	})
	return st, eng
}

// checkAtEnd runs the whole check on a store the test leaves open, unless
// the test itself changed the database behind the store's back: whatever
// a case did through the store's rules, the records still hold together
// and are the state the audit trail commits to.
func (e *env) checkAtEnd(ctx context.Context, st *store.Store, eng *Limited) {
	e.t.Helper()
	if eng.Foreign() || !st.IsOpen() || e.t.Failed() {
		return
	}
	if err := st.CheckRecords(ctx); err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrNewerSchema) {
		e.t.Errorf("at the end of the test: %v", err)
	}
}

// reopen closes the test's store and opens it again on the same database.
func (e *env) reopen(opts ...store.Option) *store.Store {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.eng.Verify(e.t)
	e.st, e.eng = e.store(opts...)
	return e.st
}

// raw opens an engine on a database of its own, with no store on it.
func (e *env) raw() store.Engine {
	e.t.Helper()
	eng := e.h.New(e.t)(e.t)
	e.t.Cleanup(func() { eng.Close() })
	return eng
}

func (e *env) app(ctx context.Context, name string, set scopes.Set) store.App {
	e.t.Helper()
	app, err := e.st.CreateApp(ctx, Admin, name, set)
	if err != nil {
		e.t.Fatalf("CreateApp(%q, %v): %v", name, set, err)
	}
	return app
}

func (e *env) key(ctx context.Context, appID uint64, name string) (string, store.Key) {
	e.t.Helper()
	text, key, err := e.st.CreateKey(ctx, Admin, appID, name)
	if err != nil {
		e.t.Fatalf("CreateKey(%d, %q): %v", appID, name, err)
	}
	return text, key
}

// next is the time the store will stamp its next change with.
func (e *env) next() time.Time { return e.clock.Peek().Add(time.Second) }

// state is everything a caller can read from a store.
type state struct {
	apps  []store.App
	keys  map[uint64][]store.Key
	audit []store.Event
}

func readState(t *testing.T, st *store.Store) state {
	t.Helper()
	apps, err := st.Apps(t.Context())
	if err != nil {
		t.Fatalf("Apps: %v", err)
	}
	s := state{apps: apps, keys: map[uint64][]store.Key{}}
	for _, a := range apps {
		if s.keys[a.ID], err = st.Keys(t.Context(), a.ID); err != nil {
			t.Fatalf("Keys(%d): %v", a.ID, err)
		}
	}
	if s.audit, err = st.Audit(t.Context()); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return s
}

func (a state) equal(b state) bool {
	return slices.EqualFunc(a.apps, b.apps, appsEqual) && len(a.keys) == len(b.keys) &&
		!slices.ContainsFunc(a.apps, func(app store.App) bool {
			return !slices.EqualFunc(a.keys[app.ID], b.keys[app.ID], keysEqual)
		}) &&
		slices.EqualFunc(a.audit, b.audit, func(x, y store.Event) bool { return x.Seq == y.Seq && x.Action == y.Action })
}

// unchanged fails the test if the store reads differently from before, or
// if a change was committed since the engine had committed batches.
func (e *env) unchanged(t *testing.T, what string, before state, batches int) {
	t.Helper()
	if !before.equal(readState(t, e.st)) {
		t.Errorf("%s: the store reads differently afterwards", what)
	}
	if n := e.eng.Batches(); n != batches {
		t.Errorf("%s: %d changes were committed", what, n-batches)
	}
}

func appsEqual(a, b store.App) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Scopes == b.Scopes && slices.Equal(a.Retired, b.Retired) &&
		a.CreatedBy == b.CreatedBy && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedBy == b.UpdatedBy &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.Revision == b.Revision && a.Keys == b.Keys
}

func keysEqual(a, b store.Key) bool {
	return a.ID == b.ID && a.AppID == b.AppID && a.Name == b.Name && a.Hint == b.Hint && a.CreatedBy == b.CreatedBy &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.LastUsedAt.Equal(b.LastUsedAt) &&
		a.DeleteAt.Equal(b.DeleteAt)
}

// randomSet is a non-empty set of scopes other than not.
func randomSet(rng *rand.Rand, not scopes.Set) scopes.Set {
	all := scopes.All()
	for {
		var s scopes.Set
		for _, sc := range all {
			if rng.IntN(2) == 0 {
				s = s.With(sc.ID)
			}
		}
		if !s.IsEmpty() && s != not {
			return s
		}
	}
}

// eventually waits for cond, which an engine that delivers its change
// stream asynchronously makes true a moment after a change; it fails the
// test if cond is still false after ten seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// requireReason checks one decision.
func requireReason(t *testing.T, st *store.Store, step, key string, scope scopes.ID, want store.Reason) store.Decision {
	t.Helper()
	d, err := st.Verify(key, scope)
	if err != nil || d.Reason != want || d.Allowed != (want == store.Allowed) {
		t.Fatalf("%s: Verify(%s) = %v, %v; want %s", step, scope, d, err, want)
	}
	return d
}

var errBoom = errors.New("boom")

func names(apps []store.App) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name)
	}
	return out
}

func seq(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}
