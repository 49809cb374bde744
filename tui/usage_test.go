package tui

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// usageWorld is a store whose clock the test moves: tracking began 100
// days before the console's now, and the app's keys were used since.
type usageWorld struct {
	st    *store.Store
	clock atomic.Int64
	app   store.App
	key   string
}

func (w *usageWorld) set(t time.Time) { w.clock.Store(t.UnixNano()) }

// newUsageWorld makes "Risk & Compliance" with four scopes and one key,
// 100 days before the console's now, then runs checks on two of the four
// scopes and four refused checks of a scope the app lacks, 3 min before it.
func newUsageWorld(t *testing.T, four scopes.Set, used ...scopes.ID) *usageWorld {
	t.Helper()
	w := &usageWorld{}
	w.set(consoleNow().Add(-100 * day))
	st, err := store.New(store.NewMemory(),
		store.WithClock(func() time.Time { return time.Unix(0, w.clock.Load()).UTC() }),
		store.WithRandom(rand.NewChaCha8([32]byte{7})), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	if w.app, err = st.CreateApp(t.Context(), testAdmin, "Risk & Compliance", four); err != nil {
		t.Fatal(err)
	}
	if w.key, _, err = st.CreateKey(t.Context(), testAdmin, w.app.ID, "reports-prod"); err != nil {
		t.Fatal(err)
	}
	w.set(consoleNow().Add(-3 * time.Minute))
	for _, id := range used {
		if d, _ := st.Verify(w.key, id); !d.Allowed {
			t.Fatalf("check of %s refused: %v", id, d.Reason)
		}
	}
	for range 4 {
		if d, _ := st.Verify(w.key, scopes.GuardrailDeploy); d.Allowed {
			t.Fatal("a scope the app lacks was allowed")
		}
	}
	w.set(consoleNow())
	return w
}

var fourScopes = scopes.NewSet(scopes.WorkflowDeploy, scopes.WorkflowExport, scopes.ModelDeploy, scopes.ModelExport)

// TestNarrowToWhatIsUsed: after checks on two of an app's four scopes, the
// configuration window shows the other two as never used since tracking
// began, u unticks them, and Save, through the impact preview, takes them
// away, audited as any scope change.
func TestNarrowToWhatIsUsed(t *testing.T) {
	w := newUsageWorld(t, fourScopes, scopes.WorkflowDeploy, scopes.ModelDeploy)
	ct := startConsole(t, w.st, testAdmin, 80, 24)
	ct.press("e")
	s := ct.golden("usage-80x24-scopes", "never used since tracking began on 2025-12-04")
	for _, want := range []string{
		"[x] Deploy workflow      used 3 min ago",
		"[x] Export workflow      never used since tracking began on 2025-12-04",
		"[x] Deploy Model         used 3 min ago",
		"[x] Export Model         never used since tracking began on 2025-12-04",
		"[ ] Deploy Guardrails    4 refused",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the window does not show %q", want)
		}
	}

	ct.press("u")
	s = ct.golden("usage-80x24-narrowed", "Unticked 2 scopes unused for 90 days")
	for _, want := range []string{"[x] Deploy workflow", "[ ] Export workflow", "[x] Deploy Model", "[ ] Export Model"} {
		if !strings.Contains(s, want) {
			t.Errorf("after u the window does not show %q", want)
		}
	}
	if got := requireApps(t, w.st, 1)[0].Scopes; got != fourScopes {
		t.Fatalf("u changed the stored scopes before Save: %v", got)
	}

	ct.press("ctrl+s")
	s = ct.golden("usage-80x24-preview", "Save scope changes?")
	if !strings.Contains(s, "Lose  − Export workflow, Export Model") {
		t.Error("the preview does not say which scopes the keys lose")
	}
	ct.press("y")
	ct.waitFor(`App "Risk & Compliance" updated.`)
	want := scopes.NewSet(scopes.WorkflowDeploy, scopes.ModelDeploy)
	if got := requireApps(t, w.st, 1)[0].Scopes; got != want {
		t.Errorf("stored scopes after Save: %v, want %v", got, want)
	}
	ev := lastEvent(t, w.st)
	if ev.Action != store.ActionAppUpdate || ev.Actor != testAdmin.Name ||
		!slices.Equal(ev.ScopesBefore, fourScopes.Strings()) || !slices.Equal(ev.ScopesAfter, want.Strings()) {
		t.Errorf("audit event: %+v", ev)
	}
}

// lastEvent is the newest event of the audit trail.
func lastEvent(t *testing.T, st *store.Store) store.Event {
	t.Helper()
	var last store.Event
	found := false
	err := st.EachEvent(t.Context(), func(e store.Event) error {
		if !found {
			last, found = e, true
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("no audit event (%v)", err)
	}
	return last
}

// TestUsageNarrowScreen pins the usage display where it has the least
// room: the notes shorten, and the toast says what u did.
func TestUsageNarrowScreen(t *testing.T) {
	w := newUsageWorld(t, fourScopes, scopes.WorkflowDeploy, scopes.ModelDeploy)
	ct := startConsole(t, w.st, testAdmin, 64, 18)
	ct.press("e")
	s := ct.golden("usage-64x18-scopes", "never used")
	if strings.Contains(s, "since tracking began") {
		t.Error("the long note does not fit at 64 columns but was drawn")
	}
	ct.press("tab", "u")
	ct.golden("usage-64x18-narrowed", "Unticked 2 scopes")
}

// TestNarrowWindows: u offers 90 days, then 30, then 90 again; a scope used
// 40 days ago is unused for 30 days but not for 90.
func TestNarrowWindows(t *testing.T) {
	w := newUsageWorld(t, fourScopes, scopes.WorkflowDeploy, scopes.ModelDeploy)
	w.set(consoleNow().Add(-40 * day))
	if d, _ := w.st.Verify(w.key, scopes.ModelExport); !d.Allowed {
		t.Fatal(d.Reason)
	}
	w.set(consoleNow())
	ct := startConsole(t, w.st, testAdmin, 80, 24)
	ct.press("e")
	ct.waitFor("Export Model         not used in 30 days")
	ct.press("u")
	s := ct.waitFor("Unticked 1 scope unused for 90 days")
	if !strings.Contains(s, "[x] Export Model") || !strings.Contains(s, "[ ] Export workflow") {
		t.Errorf("90 days:\n%s", s)
	}
	ct.press("u")
	s = ct.waitFor("Unticked 2 scopes unused for 30 days")
	if !strings.Contains(s, "[ ] Export Model") || !strings.Contains(s, "[ ] Export workflow") {
		t.Errorf("30 days:\n%s", s)
	}
	ct.press("u")
	ct.waitFor("Unticked 1 scope unused for 90 days")
	ct.press("esc")
	ct.waitFor("Discard unsaved changes?")
	ct.press("y")
	ct.waitFor("Create an App")
	if got := requireApps(t, w.st, 1)[0].Scopes; got != fourScopes {
		t.Errorf("nothing was saved, yet the scopes are %v", got)
	}
}

// TestNarrowNeedsHistory: with less tracking than the window, u says so
// and unticks nothing.
func TestNarrowNeedsHistory(t *testing.T) {
	st := newTestStore(t) // tracking began an hour before the console's now
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("e", "u")
	s := ct.waitFor("Tracking began on 2026-03-14: not enough history for 30 days.")
	if strings.Contains(s, "[ ] Deploy Guardrails") {
		t.Error("u unticked a scope without the history for it")
	}
}

// TestNarrowKeepsOneScope: an app none of whose scopes was used keeps them
// all, and is told why.
func TestNarrowKeepsOneScope(t *testing.T) {
	w := newUsageWorld(t, fourScopes)
	ct := startConsole(t, w.st, testAdmin, 80, 24)
	ct.press("e", "u")
	s := ct.waitFor("an app needs one, so none unticked")
	if strings.Count(s, "[x]") != 4 {
		t.Errorf("scopes were unticked:\n%s", s)
	}
}

// TestNarrowViewer: a viewer sees the usage but cannot narrow.
func TestNarrowViewer(t *testing.T) {
	w := newUsageWorld(t, fourScopes, scopes.WorkflowDeploy)
	ct := startConsole(t, w.st, store.Actor{Name: "victor", Role: store.Viewer}, 80, 24)
	ct.press("e")
	ct.waitFor("used 3 min ago")
	ct.press("u")
	ct.waitFor("viewers can't change scopes")
}

// TestListFilterUnused: the filter word unused: keeps the apps with a scope
// unused for 90 days (unused:30d: 30), and combines with text.
func TestListFilterUnused(t *testing.T) {
	w := newUsageWorld(t, scopes.NewSet(scopes.WorkflowDeploy), scopes.WorkflowDeploy)
	w.set(consoleNow().Add(-100 * day))
	other, err := w.st.CreateApp(t.Context(), testAdmin, "Marketing", scopes.NewSet(scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := w.st.CreateKey(t.Context(), testAdmin, other.ID, "campaigns")
	if err != nil {
		t.Fatal(err)
	}
	w.set(consoleNow().Add(-40 * day))
	w.st.Verify(text, scopes.ModelExport)
	w.set(consoleNow())

	ct := startConsole(t, w.st, testAdmin, 80, 24)
	ct.press("/")
	ct.typeText("unused:")
	s := ct.waitFor("0 of 2 apps")
	if strings.Contains(s, "Marketing  ") || strings.Contains(s, "Risk & Compliance  ") {
		t.Errorf("unused: kept an app whose scopes were used within 90 days:\n%s", s)
	}
	ct.typeText("30d")
	s = ct.waitFor("1 of 2 apps")
	if !strings.Contains(s, "Marketing") {
		t.Errorf("unused:30d left out Marketing:\n%s", s)
	}
	ct.typeText(" risk")
	ct.waitFor("0 of 2 apps")
	for range len(" risk") {
		ct.press("backspace")
	}
	ct.typeText(" mark")
	ct.waitFor("1 of 2 apps")
}

func TestParseUnused(t *testing.T) {
	for in, want := range map[string]string{
		"":                "|0",
		"risk":            "risk|0",
		"unused:":         "|90",
		"UNUSED:30d risk": "risk|30",
		"risk unused:30":  "risk|30",
		"unused:xyz":      "|90",
	} {
		text, days := parseUnused(in)
		if got := fmt.Sprintf("%s|%d", text, days); got != want {
			t.Errorf("parseUnused(%q) = %s, want %s", in, got, want)
		}
	}
}
