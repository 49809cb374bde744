package tui

import (
	"context"
	"flag"
	"fmt"
	"image"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"apiscopes/store"
	"apiscopes/store/bolt"
)

// The fixed world every console test runs in: a pinned clock, seeded
// randomness, a known user, UTC dates.
var (
	testNow   = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	testAdmin = store.Actor{Name: "alice", Role: store.Admin, Origin: "test"}
)

// consoleNow is the console's clock in tests: fixed, an hour after the
// store's clock starts, so "last used" and expiry read the same on every run.
func consoleNow() time.Time { return testNow.Add(time.Hour) }

// testStoreOptions are the store's side of the fixed world: a stopped clock
// and a seeded random source, so keys and dates are the same on every run.
// The clock stands still: the console follows the store's change feed, at
// moments no test controls, and a clock that moved on every reading would
// make times on screen depend on how often that happened.
func testStoreOptions() []store.Option {
	return []store.Option{store.WithClock(func() time.Time { return testNow }),
		store.WithRandom(rand.NewChaCha8([32]byte{7})), store.WithMaintenance(0)}
}

// newTestStore is a store on the memory engine: what the console shows does
// not depend on where the records are kept, and memory is quick.
func newTestStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.New(store.NewMemory(), testStoreOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newFileStore is a store on a bbolt file in a temporary folder, for tests
// about the file itself: a disk that fails under it, records another tool
// wrote.
func newFileStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := bolt.OpenStore(filepath.Join(t.TempDir(), "apiscopes.db"), bolt.Options{}, testStoreOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// screenReq asks the running program for the screen it would draw now. It is
// answered inside Update, so every message sent before it has been handled.
type screenReq chan shot

// shot is the screen at one moment, and whether the console was idle then:
// no store call in flight, nothing loading. It says what has the focus and
// where every clickable area and button is.
type shot struct {
	screen  string
	idle    bool
	focus   string
	at      image.Rectangle // where the focused area is drawn
	drawn   bool            // whether it is drawn at all
	areas   map[string]image.Rectangle
	buttons []string
	w, h    int
	feedSeq uint64 // the audit sequence of the newest change the feed brought and the console handled
}

// cut is the styled text of the screen inside r.
func (sh shot) cut(r image.Rectangle) string {
	lines := strings.Split(sh.screen, "\n")
	var out []string
	for y := r.Min.Y; y < r.Max.Y && y < len(lines); y++ {
		out = append(out, ansi.Cut(lines[y], r.Min.X, r.Max.X))
	}
	return strings.Join(out, "\n")
}

// probe wraps the console to answer screenReq, and notes how far the
// change feed has come; everything else passes through.
type probe struct {
	*Model
	feedSeq *uint64 // the program's goroutine alone touches it
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if req, ok := msg.(screenReq); ok {
		id, at, drawn := p.focused()
		req <- shot{screen: p.screen, idle: p.idle(), focus: id, at: at, drawn: drawn,
			areas: maps.Clone(p.areas), buttons: slices.Clone(p.buttons), w: p.c.termW, h: p.c.termH,
			feedSeq: *p.feedSeq}
		return p, nil
	}
	if f, ok := msg.(feedMsg); ok && f.up.Event.Seq > *p.feedSeq {
		*p.feedSeq = f.up.Event.Seq
	}
	_, cmd := p.Model.Update(msg)
	return p, cmd
}

// consoleTest drives a real program through teatest.
type consoleTest struct {
	t      *testing.T
	tm     *teatest.TestModel
	st     *store.Store
	mu     sync.Mutex
	copied []string // what Copy and Close put on the clipboard

	// The terminal, when a test needs another: variables added to the
	// environment (with TZ, the console takes its zone from it), and the
	// colour profile (256 colours if unset).
	env     []string
	profile colorprofile.Profile
}

func startConsole(t *testing.T, st *store.Store, actor store.Actor, w, h int) *consoleTest {
	t.Helper()
	ct := &consoleTest{t: t, st: st}
	return startConsoleWith(t, ct, Options{Store: st, Actor: actor, Clipboard: ct.clipboard()}, w, h)
}

// clipboard is a system clipboard that keeps what it is given for the test.
func (ct *consoleTest) clipboard() Clipboard {
	return func(text string) tea.Cmd {
		return func() tea.Msg {
			ct.mu.Lock()
			ct.copied = append(ct.copied, text)
			ct.mu.Unlock()
			return copiedMsg{where: copiedToSystem}
		}
	}
}

// startConsoleWith starts a console with the given options, filling in the
// fixed test world (UTC dates unless the test sets TZ, toasts that stay, a
// 256-colour xterm unless the test says otherwise).
func startConsoleWith(t *testing.T, ct *consoleTest, o Options, w, h int) *consoleTest {
	t.Helper()
	o.ToastDuration, o.Now = time.Hour, consoleNow
	if !slices.ContainsFunc(ct.env, func(e string) bool { return strings.HasPrefix(e, "TZ=") }) {
		o.Location = time.UTC
	}
	env := []string{"TERM=xterm-256color", "LANG=C.UTF-8"}
	if i := slices.IndexFunc(ct.env, func(e string) bool { return strings.HasPrefix(e, "TERM=") }); i >= 0 {
		env = env[1:]
	}
	env = append(env, ct.env...)
	profile := ct.profile
	if profile == colorprofile.Unknown {
		profile = colorprofile.ANSI256
	}
	m := New(o)
	ct.tm = teatest.NewTestModel(t, probe{Model: m, feedSeq: new(uint64)},
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(
			tea.WithColorProfile(profile),
			tea.WithEnvironment(env),
			tea.WithFPS(4), // the tests read the model's screen, not the terminal's: a slow frame rate leaves the program free
		))
	t.Cleanup(func() {
		// The second ctrl+c quits where the first asks (unsaved edits, a
		// key on screen).
		ct.tm.Send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
		ct.tm.Send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
		ct.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	return ct
}

// press sends keys by the names the key map uses: "enter", "tab",
// "shift+tab", "esc", "space", "up", "ctrl+s", or a single character.
func (ct *consoleTest) press(names ...string) {
	ct.t.Helper()
	for _, n := range names {
		msg := keyPress(n)
		if got := msg.String(); got != n {
			ct.t.Fatalf("key %q is sent as %q", n, got)
		}
		ct.tm.Send(msg)
	}
}

func keyPress(name string) tea.KeyPressMsg {
	special := map[string]tea.KeyPressMsg{
		"enter": {Code: tea.KeyEnter}, "tab": {Code: tea.KeyTab}, "esc": {Code: tea.KeyEscape},
		"shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift}, "space": {Code: tea.KeySpace, Text: " "},
		"up": {Code: tea.KeyUp}, "down": {Code: tea.KeyDown}, "left": {Code: tea.KeyLeft}, "right": {Code: tea.KeyRight},
		"backspace": {Code: tea.KeyBackspace}, "ctrl+s": {Code: 's', Mod: tea.ModCtrl}, "ctrl+c": {Code: 'c', Mod: tea.ModCtrl},
	}
	if k, ok := special[name]; ok {
		return k
	}
	r := []rune(name)[0]
	return tea.KeyPressMsg{Code: r, Text: name}
}

// typeText types text as a person would, one key at a time.
func (ct *consoleTest) typeText(s string) {
	for _, r := range s {
		if r == ' ' {
			ct.tm.Send(keyPress("space"))
			continue
		}
		ct.tm.Send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// screen is the screen as plain text, once every message sent so far has
// been handled.
func (ct *consoleTest) screen() string {
	ct.t.Helper()
	return plain(ct.shot().screen)
}

// shot asks the program for its screen, styling and all.
func (ct *consoleTest) shot() shot {
	ct.t.Helper()
	req := make(screenReq, 1)
	ct.tm.Send(req)
	select {
	case s := <-req:
		return s
	case <-time.After(5 * time.Second):
		ct.t.Fatal("the console did not answer within 5 s")
		return shot{}
	}
}

// waitFor returns the screen once it shows want and the console is idle:
// store calls run in commands of their own, so it looks a few times.
func (ct *consoleTest) waitFor(want string) string {
	ct.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sh := ct.shot()
		s := plain(sh.screen)
		if sh.idle && strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			ct.t.Fatalf("the screen never showed %q (idle: %v); it shows:\n%s", want, sh.idle, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// golden compares the screen, once it shows want, with testdata/<name>.golden.
func (ct *consoleTest) golden(name, want string) string {
	ct.t.Helper()
	s := ct.waitFor(want)
	requireGolden(ct.t, name, s)
	if sh := ct.shot(); sh.w >= MinWidth && sh.h >= MinHeight {
		ct.requireFocusShown(sh, name)
	}
	return s
}

func (ct *consoleTest) copiedKeys() []string {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return append([]string(nil), ct.copied...)
}

// plain strips styling and trailing blanks: goldens show what a person reads.
func plain(s string) string {
	lines := strings.Split(ansi.Strip(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

// requireGolden compares got with testdata/<name>.golden; -update rewrites it.
func requireGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./tui -run %s -update)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("screen %s differs from its golden file.\n--- want\n%s\n--- got\n%s", name, want, got)
	}
}

// sizes are the terminal sizes every screen is pinned at: the smallest the
// console supports, the classic terminal, a roomy one.
var sizes = [][2]int{{64, 18}, {80, 24}, {120, 40}}

// forSizes runs test at every size, side by side (each has a console and a
// store of its own), with a golden name for the size.
func forSizes(t *testing.T, prefix string, test func(t *testing.T, w, h int, name func(string) string)) {
	for _, size := range sizes {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			t.Parallel()
			test(t, w, h, func(s string) string { return fmt.Sprintf("%s-%dx%d-%s", prefix, w, h, s) })
		})
	}
}

// requireFocusShown fails unless the part with the focus is drawn, whole,
// on the screen.
func (ct *consoleTest) requireFocusShown(sh shot, where string) {
	ct.t.Helper()
	screen := image.Rect(0, 0, sh.w, sh.h)
	switch {
	case strings.HasSuffix(sh.focus, ":"):
		// nothing on screen takes the focus
	case !sh.drawn:
		ct.t.Errorf("%s: the focus is on %q, which is not drawn:\n%s", where, sh.focus, plain(sh.screen))
	case !sh.at.In(screen):
		ct.t.Errorf("%s: the focus is on %q at %v, outside the %v screen:\n%s", where, sh.focus, sh.at, screen, plain(sh.screen))
	}
}

// walkFocus tabs once around the focus ring of the screen on show: every
// part it stops at must be drawn on screen and look different while it has
// the focus, and every button on the screen must be one of them. It leaves
// the focus where it found it.
func (ct *consoleTest) walkFocus(where string) { ct.t.Helper(); ct.walkFocusBy(where, nil) }

// walkFocusText is walkFocus where a part must differ with and without
// the focus in its text alone, as on a terminal that draws no styling.
func (ct *consoleTest) walkFocusText(where string) { ct.t.Helper(); ct.walkFocusBy(where, ansi.Strip) }

// walkFocusBy is walkFocus comparing the parts as look sees them (nil:
// styled).
func (ct *consoleTest) walkFocusBy(where string, look func(string) string) {
	ct.t.Helper()
	if look == nil {
		look = func(s string) string { return s }
	}
	start := ct.settled()
	ct.requireFocusShown(start, where)
	seen := map[string]string{start.focus: look(start.cut(start.at))}
	visited := []string{start.focus}
	prev := start
	for range 20 {
		ct.press("tab")
		sh := ct.settled()
		ct.requireFocusShown(sh, where)
		// The part just left must look different now that it has lost
		// the focus (unless it is the only one).
		if r, ok := sh.areas[prev.focus]; ok && sh.focus != prev.focus && look(sh.cut(r)) == seen[prev.focus] {
			ct.t.Errorf("%s: %q looks the same with and without the focus: %q", where, prev.focus, plain(seen[prev.focus]))
		}
		if sh.focus == start.focus {
			break
		}
		seen[sh.focus] = look(sh.cut(sh.at))
		visited = append(visited, sh.focus)
		prev = sh
	}
	for _, b := range start.buttons {
		if !slices.Contains(visited, b) {
			ct.t.Errorf("%s: tab never reaches the button %q (the ring is %v)", where, b, visited)
		}
	}
}

// settled is the shot once the console is idle; a console that never is
// fails the test.
func (ct *consoleTest) settled() shot {
	ct.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sh := ct.shot()
		if sh.idle {
			return sh
		}
		if time.Now().After(deadline) {
			ct.t.Fatalf("the console was still busy after 5 s; it shows:\n%s", plain(sh.screen))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// caughtUp is the shot once the console has handled the change feed's news
// of every change in the store so far, and whatever it started for them.
func (ct *consoleTest) caughtUp() shot {
	ct.t.Helper()
	events, err := ct.st.Audit(context.Background())
	if err != nil {
		ct.t.Fatal(err)
	}
	var head uint64
	if len(events) > 0 {
		head = events[0].Seq
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		sh := ct.shot()
		if sh.feedSeq >= head && sh.idle {
			return sh
		}
		if time.Now().After(deadline) {
			ct.t.Fatalf("the console has not handled the feed's news up to event %d (it is at %d, idle %v)", head, sh.feedSeq, sh.idle)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
