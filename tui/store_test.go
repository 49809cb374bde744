package tui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// testStore is the console's Store with a handle on it: every call can be
// slowed down or held until the test lets it go, every change made to
// fail, and the calls are counted.
type testStore struct {
	*store.Store

	mu    sync.Mutex
	delay time.Duration
	held  chan struct{} // not nil: every call waits until it is closed
	fail  error         // every change fails with it
	calls map[string]int
}

func wrapStore(st *store.Store) *testStore { return &testStore{Store: st, calls: map[string]int{}} }

// call counts a call and makes it take the store's delay, or wait while
// the store is held.
func (s *testStore) call(name string) {
	s.mu.Lock()
	s.calls[name]++
	d, held := s.delay, s.held
	s.mu.Unlock()
	time.Sleep(d)
	if held != nil {
		<-held
	}
}

// hold makes every call wait until release: the console must go on
// answering meanwhile, however long the store takes.
func (s *testStore) hold() {
	s.mu.Lock()
	s.held = make(chan struct{})
	s.mu.Unlock()
}

// release lets every held call, and every later one, go on.
func (s *testStore) release() {
	s.mu.Lock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
	s.mu.Unlock()
}

// change is call for a change, and the error it is to fail with.
func (s *testStore) change(name string) error {
	s.call(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail
}

func (s *testStore) set(delay time.Duration, fail error) {
	s.mu.Lock()
	s.delay, s.fail = delay, fail
	s.mu.Unlock()
}

// count is how often the named calls were made.
func (s *testStore) count(names ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, name := range names {
		n += s.calls[name]
	}
	return n
}

func (s *testStore) reset() {
	s.mu.Lock()
	s.calls = map[string]int{}
	s.mu.Unlock()
}

// The reads that load what a page shows.
var loads = []string{"FirstApps", "Keys", "EachEvent"}

func (s *testStore) FirstApps(ctx context.Context, n int) ([]store.App, error) {
	s.call("FirstApps")
	return s.Store.FirstApps(ctx, n)
}

func (s *testStore) NextAppName(ctx context.Context) (string, error) {
	s.call("NextAppName")
	return s.Store.NextAppName(ctx)
}

func (s *testStore) CreateApp(ctx context.Context, a store.Actor, name string, set scopes.Set) (store.App, error) {
	if err := s.change("CreateApp"); err != nil {
		return store.App{}, err
	}
	return s.Store.CreateApp(ctx, a, name, set)
}

func (s *testStore) SaveApp(ctx context.Context, a store.Actor, base store.App, name string, set scopes.Set) (store.App, error) {
	if err := s.change("SaveApp"); err != nil {
		return store.App{}, err
	}
	return s.Store.SaveApp(ctx, a, base, name, set)
}

func (s *testStore) DeleteApp(ctx context.Context, a store.Actor, id uint64) error {
	if err := s.change("DeleteApp"); err != nil {
		return err
	}
	return s.Store.DeleteApp(ctx, a, id)
}

func (s *testStore) Keys(ctx context.Context, appID uint64) ([]store.Key, error) {
	s.call("Keys")
	return s.Store.Keys(ctx, appID)
}

func (s *testStore) CreateKeyWith(ctx context.Context, a store.Actor, appID uint64, name string, o store.KeyOptions) (string, store.Key, error) {
	if err := s.change("CreateKeyWith"); err != nil {
		return "", store.Key{}, err
	}
	return s.Store.CreateKeyWith(ctx, a, appID, name, o)
}

func (s *testStore) RollKey(ctx context.Context, a store.Actor, keyID uint64, grace time.Duration) (string, store.Key, store.Key, error) {
	if err := s.change("RollKey"); err != nil {
		return "", store.Key{}, store.Key{}, err
	}
	return s.Store.RollKey(ctx, a, keyID, grace)
}

func (s *testStore) DeleteKey(ctx context.Context, a store.Actor, keyID uint64) error {
	if err := s.change("DeleteKey"); err != nil {
		return err
	}
	return s.Store.DeleteKey(ctx, a, keyID)
}

func (s *testStore) EachEvent(ctx context.Context, fn func(store.Event) error) error {
	s.call("EachEvent")
	return s.Store.EachEvent(ctx, fn)
}

// startOn starts a console on a wrapped store.
func startOn(t *testing.T, ts *testStore, w, h int) *consoleTest {
	t.Helper()
	ct := &consoleTest{t: t, st: ts.Store}
	return startConsoleWith(t, ct, Options{Store: ts, Actor: testAdmin, Clipboard: ct.clipboard()}, w, h)
}

// busyScreen waits for a screen that shows want while the console is still
// waiting for the store, and says how long the console took to answer.
func (ct *consoleTest) busyScreen(want string) (string, time.Duration) {
	ct.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		start := time.Now()
		sh := ct.shot()
		took := time.Since(start)
		s := plain(sh.screen)
		if !sh.idle && strings.Contains(s, want) {
			return s, took
		}
		if time.Now().After(deadline) {
			ct.t.Fatalf("while the store worked, the screen never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSlowStore: while the store has not answered (each call held until
// the test lets it go), every wait shows (a spinner in the header, a
// button that says what it does), and the console keeps drawing and
// answering keys meanwhile: a console that waited for the store in its
// own loop would never draw these screens.
func TestSlowStore(t *testing.T) {
	ts := wrapStore(newTestStore(t))
	seedBank(t, ts.Store)
	ts.set(20*time.Millisecond, nil)
	ct := startOn(t, ts, 80, 24)

	// Opening an app reads its keys: the window is there at once, and
	// tab moves on while they load.
	ts.hold()
	ct.press("down", "down", "e", "right")
	s, _ := ct.busyScreen("Loading API keys…")
	if !strings.Contains(s, "Risk & Compliance") {
		t.Errorf("the window did not open before its keys loaded:\n%s", s)
	}
	ts.release()
	ct.waitFor("audit-trail")

	// Generate Key: the button says so at once, the spinner after a moment,
	// and keys pressed meanwhile do not disturb it.
	ct.press("c")
	ct.waitFor("Create new API key")
	ct.typeText("slow-one")
	ts.hold()
	ct.press("enter")
	ct.busyScreen("[ Generating… ]")
	ct.busyScreen("Generating the key…") // the header's spinner
	ct.press("tab", "enter", "x")
	ct.busyScreen("Generating the key…") // the keys disturbed nothing
	ts.release()
	s = ct.waitFor("Copy and Close")
	if !keyPattern.MatchString(s) {
		t.Fatalf("the key is not shown:\n%s", s)
	}
	ct.press("enter")
	ct.waitFor("API key copied")
	if len(ct.copiedKeys()) != 1 {
		t.Errorf("copied %d keys", len(ct.copiedKeys()))
	}

	// Save: the form says it is saving and takes no keys until the store
	// has answered.
	ct.press("left", "tab", "space", "ctrl+s")
	ct.waitFor("Save scope changes?")
	ct.press("y")
	ct.busyScreen("Saving…")
	ct.press("space") // would untick the scope again, were the form not with the store
	ct.waitFor(`App "Risk & Compliance" updated.`)
	if app := requireApps(t, ts.Store, 3)[2]; app.Scopes.Allows(scopes.WorkflowDeploy) {
		t.Errorf("saved scopes = %v", app.Scopes)
	}
}

// TestFailingStore: when every change fails, each says why, and nothing
// typed or chosen is lost: the same change can be made again at once.
func TestFailingStore(t *testing.T) {
	ts := wrapStore(newTestStore(t))
	seedBank(t, ts.Store)
	ct := startOn(t, ts, 80, 24)
	ts.set(0, store.ErrBusy)
	says := "the database is busy with other changes"

	// A new app keeps its name and scopes.
	ct.press("n")
	ct.typeText("Treasury")
	ct.press("tab", "space", "ctrl+s")
	s := ct.waitFor(says)
	for _, want := range []string{"Treasury", "[x] Deploy workflow"} {
		if !strings.Contains(s, want) {
			t.Errorf("the form lost %q:\n%s", want, s)
		}
	}
	ct.press("esc", "tab", "enter") // discard it

	// A key keeps its name and expiry.
	ct.waitFor("Create an App")
	ct.press("e", "c")
	ct.waitFor("Create new API key")
	ct.typeText("backup")
	ct.press("tab", "right", "enter")
	s = ct.waitFor(says)
	if !strings.Contains(s, "backup") || !strings.Contains(s, "(•) 7 days") {
		t.Errorf("the dialog lost what was chosen:\n%s", s)
	}
	ts.set(0, nil)
	ct.press("enter")
	s = ct.waitFor("Copy and Close")
	if !strings.Contains(s, "backup · Works until") {
		t.Errorf("the key was not made as chosen:\n%s", s)
	}
	ct.press("enter")
	ct.waitFor("API key copied")

	// A key to delete stays listed.
	ts.set(0, store.ErrBusy)
	ct.press("right", "tab", "d", "y")
	s = ct.waitFor(says)
	if !strings.Contains(s, "support-bot") {
		t.Errorf("the key left the list:\n%s", s)
	}
	requireKeys(t, ts.Store, requireApps(t, ts.Store, 3)[0].ID, 2)
}

// TestKeyOnItsWayIsNeverLost: esc or ctrl+c pressed while Generate Key or
// Roll Key is with the store waits for the key, shows it, and asks; only a
// second ctrl+c, once the key is on screen, quits.
func TestKeyOnItsWayIsNeverLost(t *testing.T) {
	for _, tt := range []struct {
		name, press, asks string
	}{
		{"esc", "esc", "Close without copying?"},
		{"ctrl+c", "ctrl+c", "Quit without copying?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := wrapStore(newTestStore(t))
			seedBank(t, ts.Store)
			ct := startOn(t, ts, 80, 24)
			ts.set(200*time.Millisecond, nil)
			ct.press("e", "c")
			ct.waitFor("Create new API key")
			ct.typeText("on-its-way")
			ct.press("enter")
			ct.busyScreen("Generating…")
			ct.press(tt.press, tt.press)
			s := ct.waitFor(tt.asks)
			if !keyPattern.MatchString(s) {
				t.Fatalf("the key is not on screen beside the question:\n%s", s)
			}
			ct.press("enter") // back to the key
			ct.waitFor("Copy and Close")

			// The same for a roll.
			ct.press("esc", "tab", "enter")
			ct.waitFor("it was not copied")
			ct.press("tab", "down")
			ct.waitFor("› on-its-way")
			ct.press("r", "enter")
			ct.busyScreen("Rolling…")
			ct.press(tt.press, tt.press)
			s = ct.waitFor(tt.asks)
			if !keyPattern.MatchString(s) || !strings.Contains(s, "API key rolled") {
				t.Fatalf("the rolled key is not on screen beside the question:\n%s", s)
			}
		})
	}
}

// TestCtrlCAsksWhereEscAsks: with unsaved edits or a key on screen, ctrl+c
// asks first and a second ctrl+c quits; with nothing to lose it quits at
// once.
func TestCtrlCAsksWhereEscAsks(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("e", "tab", "space", "ctrl+c")
	s := ct.waitFor("Quit without saving?")
	if !strings.Contains(s, "[ Keep editing ]  [ Quit ]") {
		t.Errorf("ctrl+c asks without offering to quit:\n%s", s)
	}
	ct.press("esc") // keep editing
	s = ct.waitFor("[x] Deploy workflow")
	if strings.Contains(s, "Discard") {
		t.Fatal("the question stayed")
	}
	ct.press("ctrl+c", "ctrl+c")
	ct.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// TestOwnChangesAreNotReadAgain: a change made in this console shows from
// the store's answer; the change feed's news of it reads nothing again.
// Another session's change shows from the feed alone, except an app's keys,
// read once.
func TestOwnChangesAreNotReadAgain(t *testing.T) {
	ts := wrapStore(newTestStore(t))
	seedBank(t, ts.Store)
	ct := startOn(t, ts, 80, 24)
	ct.press("a")
	ct.waitFor("created API key")
	ct.press("s")
	ct.waitFor("Create an App")
	ts.reset()

	ct.press("n")
	ct.typeText("Treasury")
	ct.press("tab", "space", "ctrl+s")
	ct.waitFor(`App "Treasury" created.`)
	ct.press("enter")
	ct.typeText("payments")
	ct.press("enter")
	ct.waitFor("Copy and Close")
	ct.press("enter")
	ct.waitFor("API key copied")
	ct.press("enter") // Done
	ct.waitFor("› Treasury")
	ct.press("d", "y")
	ct.waitFor(`App "Treasury" deleted.`)
	ct.press("a")
	ct.waitFor("deleted app")
	ct.caughtUp() // the feed's news of the changes has come, and read nothing
	if n := ts.count(loads...); n != 0 {
		t.Errorf("the console read apps, keys or the audit log %d times for its own changes: %v", n, ts.calls)
	}

	// Another session: the list and the log follow without reading.
	bob := store.Actor{Name: "bob", Role: store.Admin}
	app, err := ts.Store.CreateApp(t.Context(), bob, "Payroll", scopes.NewSet(scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	ct.waitFor("Payroll")
	ct.press("s")
	ct.waitFor("Payroll")
	// An open window reads the app's keys once when another session
	// changes them.
	ct.press("e")
	ct.waitFor("API Keys")
	ts.reset()
	if _, _, err := ts.Store.CreateKey(t.Context(), bob, app.ID, "from-bob"); err != nil {
		t.Fatal(err)
	}
	ct.press("right")
	ct.waitFor("from-bob")
	if n := ts.count("Keys"); n != 1 {
		t.Errorf("read the keys %d times for one change elsewhere", n)
	}
	if n := ts.count("FirstApps", "EachEvent"); n != 0 {
		t.Errorf("read the apps or the log %d times for one change elsewhere", n)
	}
}

// TestResyncReloads: when the feed says updates were lost, the console
// reads everything it shows again.
func TestResyncReloads(t *testing.T) {
	ts := wrapStore(newTestStore(t))
	seedBank(t, ts.Store)
	ct := startOn(t, ts, 80, 24)
	ct.press("a")
	ct.waitFor("created API key")
	ct.press("s")
	ct.waitFor("Create an App")
	ts.reset()
	ct.tm.Send(updateMsg{store.Update{Resync: true}})
	ct.screen()
	ct.waitFor("Create an App")
	if ts.count("FirstApps") != 1 || ts.count("EachEvent") != 1 {
		t.Errorf("a resync read %v", ts.calls)
	}
}
