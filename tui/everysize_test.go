package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"apiscopes/scopes"
	"apiscopes/store"
)

// bankStory is a welcome as long as the demo's.
var bankStory = Demo{
	Title: "Welcome to the apiscopes demo",
	Story: []string{
		"A bank gives each department an API app with only the scopes it needs, and API keys for the department's services.",
		"Risk & Compliance may use workflows and models, to build reports from transaction logs and audit trails. " +
			"Customer Support only deploys and undeploys the guardrails that watch AI customer interactions. Marketing only exports.",
		"Open an app with enter, press a for the audit log of who changed what, or n to make an app and key of your own.",
	},
	Note:   "Nothing here is real: this database is deleted when you quit.",
	Select: "Risk & Compliance",
}

// TestWelcomeFitsEverySize: the demo's welcome never covers the header, its
// Start button always shows, and on a short screen the story scrolls.
func TestWelcomeFitsEverySize(t *testing.T) {
	forSizes(t, "demo", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		story := bankStory
		ct := startConsoleWith(t, &consoleTest{t: t, st: st}, Options{Store: st, Actor: testAdmin, Demo: &story}, w, h)
		s := ct.golden(name("welcome"), "[ Start ]")
		if first := strings.Split(s, "\n")[0]; !strings.Contains(first, "apiscopes") || !strings.Contains(first, "DEMO") {
			t.Errorf("the welcome covers the header: %q", first)
		}
		if h == MinHeight {
			if !strings.Contains(s, "more below") {
				t.Errorf("the story does not say it goes on:\n%s", s)
			}
			for range 10 {
				ct.press("down")
			}
			if s := ct.waitFor("[ Start ]"); !strings.Contains(s, "Nothing here is real") {
				t.Errorf("↓ does not bring the rest of the story up:\n%s", s)
			}
		}
		ct.press("enter")
		s = ct.waitFor("› Risk & Complian") // the story's app, selected first (cut with "…" at 64 columns)
		if strings.Contains(s, "Welcome") {
			t.Errorf("the welcome stayed:\n%s", s)
		}
		ct.press("a")
		if s := ct.waitFor("Audit Log"); !strings.Contains(s, "DEMO") {
			t.Errorf("the audit log lost the DEMO badge:\n%s", s)
		}
	})
}

// TestDemoSelectsTheStorysApp: with thousands of other apps sorting first,
// the list opens on the app the demo names, once it has loaded.
func TestDemoSelectsTheStorysApp(t *testing.T) {
	st := newTestStore(t)
	specs := make([]store.AppSpec, firstPage+50)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("Cards service %05d", i), Scopes: scopes.NewSet(scopes.ModelExport)}
	}
	if _, err := st.CreateApps(t.Context(), testAdmin, specs); err != nil {
		t.Fatal(err)
	}
	seedBank(t, st)
	story := bankStory
	ct := startConsoleWith(t, &consoleTest{t: t, st: st}, Options{Store: st, Actor: testAdmin, Demo: &story}, 80, 24)
	ct.press("enter")
	ct.waitFor("› Risk & Compliance")
}

// TestLongKeyNameInTheShownOnceDialog: a key named with sixty characters
// leaves the dialog whole: every line inside its border, its expiry whole.
func TestLongKeyNameInTheShownOnceDialog(t *testing.T) {
	forSizes(t, "keys", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		long := "audit-trail-batch-exporter-for-the-quarterly-regulator-report"
		ct.press("e", "c")
		ct.waitFor("Create new API key")
		ct.typeText(long)
		ct.press("enter")
		s := ct.golden(name("shown-long-name"), "Copy and Close")
		if !strings.Contains(strings.ReplaceAll(s, "│", ""), "Never expires") {
			t.Errorf("the expiry is cut:\n%s", s)
		}
		// Every line of the box ends at its top right corner's column.
		lines := strings.Split(s, "\n")
		top := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "╭") })
		bottom := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "╰") })
		if top < 0 || bottom < top {
			t.Fatalf("no dialog box:\n%s", s)
		}
		right := ansi.StringWidth(lines[top][:strings.Index(lines[top], "╮")])
		for _, line := range lines[top+1 : bottom] {
			if cells := []rune(ansi.Strip(line)); len(cells) <= right || string(cells[right]) != "│" {
				t.Errorf("the box's right border is broken on %q:\n%s", line, s)
			}
		}
		for _, line := range lines {
			if ansi.StringWidth(line) > w {
				t.Errorf("a line is wider than the screen: %q", line)
			}
		}
	})
}

// TestAuditLogShowsWhatChanged: at 80 columns a change of scopes reads as
// what it added and removed in the pane, and in the table at 120 columns,
// beside who made it; the filter finds
// what is on screen (the time as shown) and scopes by id.
func TestAuditLogShowsWhatChanged(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	support := requireApps(t, st, 3)[0]
	if _, err := st.SaveApp(t.Context(), testAdmin, support, support.Name, scopes.NewSet(scopes.ModelDeploy)); err != nil {
		t.Fatal(err)
	}
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("a")
	s := ct.golden("audit-80x24-scope-change", "changed scopes")
	for _, want := range []string{"Change  +Deploy Model −Deploy Guardrails −Undeploy Guardrails", "Before  Deploy Guardrails, Undeploy Guardrails"} {
		if !strings.Contains(s, want) {
			t.Errorf("the pane lacks %q:\n%s", want, s)
		}
	}
	if row := rowOf(s, "› 2026"); !strings.Contains(row, "alice") {
		t.Errorf("the table's row does not say who: %q", row)
	}
	ct.resize(120, 40) // room for the change in the table too
	if row := rowOf(ct.waitFor("Change"), "› 2026"); !strings.Contains(row, "+Deploy Model") || !strings.Contains(row, "alice") {
		t.Errorf("the table's row does not say who and what changed: %q", row)
	}
	ct.resize(80, 24)
	ct.press("/")
	ct.typeText("09:30") // every event is at 09:30 on screen
	ct.waitFor("7 of 7 events")
	for range 5 {
		ct.press("backspace")
	}
	ct.typeText("guardrail:undeploy")
	ct.waitFor("2 of 7 events") // the change, and the app's creation
}

// TestAuditLogKeepsItsPlace: leaving the audit log and coming back finds
// the same event selected.
func TestAuditLogKeepsItsPlace(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("a", "down", "down")
	before := rowOf(ct.waitFor("created app · Customer Support"), "› 2026")
	ct.press("s")
	ct.waitFor("Create an App")
	ct.press("a")
	s := ct.waitFor("created app · Customer Support")
	if after := rowOf(s, "› 2026"); after != before {
		t.Errorf("came back to %q, left %q", after, before)
	}
}

// TestFocusShowsWhileFiltering: typing a filter leaves the selected row
// marked, so the pane below shows which row it describes.
func TestFocusShowsWhileFiltering(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("a", "down", "/")
	ct.typeText("created")
	s := ct.waitFor("of 6 events")
	if row := rowOf(s, "› 2026"); row == "" {
		t.Errorf("no row is marked while the filter is typed:\n%s", s)
	}
}

// TestKeyTable: ← from the key table goes back to the API Scopes tab as →
// came from it; the selected key shows in full below, its name whole and
// apart from its rolled copy's, however narrow the table.
func TestKeyTable(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	app := requireApps(t, st, 3)[2]
	long := store.Actor{Name: "amara.okafor-longname", Role: store.Admin}
	if _, _, err := st.CreateKey(t.Context(), long, app.ID, "audit-trail-batch-exporter"); err != nil {
		t.Fatal(err)
	}
	keys := requireKeys(t, st, app.ID, 3)
	if _, _, _, err := st.RollKey(t.Context(), testAdmin, keys[2].ID, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	ct := startConsole(t, st, testAdmin, 64, 18)
	ct.press("down", "down", "e", "right", "tab", "down", "down")
	s := ct.golden("keys-64x18-full-values", "audit-trail-batch-exporter")
	for _, want := range []string{"created 2026-03-14 09:30 UTC by amara.okafor-", "Rolled: works until"} {
		if !strings.Contains(s, want) {
			t.Errorf("the pane lacks %q:\n%s", want, s)
		}
	}
	ct.press("down")
	s = ct.waitFor("audit-trail-batch-exporter (rolled)") // in full, below
	var rows []string                                     // the name cells of the batch exporter and its rolled copy
	for _, l := range strings.Split(s, "\n") {
		if name, _, ok := strings.Cut(l, "aps_…"); ok && strings.Contains(l, "audit-tr") && !strings.Contains(l, "uxGd") {
			rows = append(rows, strings.TrimSpace(strings.TrimLeft(name, " ›")))
		}
	}
	if len(rows) != 2 || rows[0] == rows[1] {
		t.Errorf("the key and its rolled copy look alike in the table: %q", rows)
	}
	ct.press("left")
	s = ct.waitFor("[x] Deploy workflow")
	if !strings.Contains(s, "enter to scopes") && !strings.Contains(s, "API Scopes") {
		t.Errorf("← did not go back to API Scopes:\n%s", s)
	}
}

// TestNameLimits: a name pasted too long says so at once, in the form and
// in the key dialog; an emptied name says "Enter a name." on create as on
// edit, while an untouched new app is the next "Untitled app".
func TestNameLimits(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("n")
	ct.tm.Send(tea.PasteMsg{Content: strings.Repeat("x", 200)})
	ct.waitFor("Use at most 64 characters.")
	ct.press("tab", "space", "ctrl+s")
	ct.waitFor("Use at most 64 characters.")
	requireApps(t, st, 3)
	for range 200 {
		ct.press("backspace")
	}
	ct.press("ctrl+s")
	ct.waitFor("Enter a name.")
	requireApps(t, st, 3)

	ct.press("esc", "tab", "enter") // discard
	ct.waitFor("Create an App")
	ct.press("n", "tab", "space", "ctrl+s") // untouched: the next free default
	ct.waitFor(`App "Untitled app" created.`)

	ct.press("c")
	ct.waitFor("Create new API key")
	ct.tm.Send(tea.PasteMsg{Content: strings.Repeat("k", 100)})
	ct.waitFor("Use at most 64 characters.")
	ct.press("enter")
	ct.waitFor("Use at most 64 characters.")
	requireKeys(t, st, requireApps(t, st, 4)[3].ID, 0)
	ct.press("esc", "esc") // Done, with no key: it asks
	ct.waitFor("Done without an API key?")
	ct.press("tab", "enter")

	ct.waitFor("Create an App")
	ct.press("e", "shift+tab")
	for range 20 {
		ct.press("backspace")
	}
	ct.press("ctrl+s")
	ct.waitFor("Enter a name.")
}

// TestZeroWidthJoinerIsExplained: a zero-width joiner the store refuses is
// named in the message, not called a control character.
func TestZeroWidthJoinerIsExplained(t *testing.T) {
	st := newTestStore(t)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("n")
	ct.tm.Send(tea.PasteMsg{Content: "Mar\u200dketing"})
	ct.press("tab", "space", "ctrl+s")
	ct.waitFor("zero-width joiner")
}

// TestWindowSaysWhatIsImmediate: the configuration window says that keys
// change at once and the rest on Save; leaving asks about exactly what is
// pending, and says the key changes made meanwhile stay.
func TestWindowSaysWhatIsImmediate(t *testing.T) {
	forSizes(t, "screen", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "down", "e")
		ct.waitFor("Keys change at once; the name and scopes when you Save.")
		ct.press("shift+tab")
		ct.typeText(" EU")
		ct.press("tab", "tab", "space", "shift+tab", "right", "tab", "d", "y")
		ct.waitFor(`API key "reports-prod" deleted.`)
		ct.press("esc")
		s := ct.golden(name("discard-pending"), "are not saved")
		for _, want := range []string{`"Risk & Compliance" → "Risk & Compliance EU"`, "−Deploy workflow", "took effect at once"} {
			if !strings.Contains(strings.Join(strings.Fields(s), " "), want) {
				t.Errorf("the question lacks %q:\n%s", want, s)
			}
		}
	})
}

// TestHelpBar: the short help always ends with "? more keys", and the new
// app form's full help lists only keys that work there.
func TestHelpBar(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	for _, keys := range [][]string{nil, {"e"}, {"right"}, {"esc", "a"}, {"s", "n"}} {
		ct.press(keys...)
		s := ct.screen()
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		if last := lines[len(lines)-1]; !strings.HasSuffix(last, "? more keys") {
			t.Errorf("after %v the help bar is %q", keys, last)
		}
	}
	ct.press("tab", "?")
	s := ct.golden("screen-80x24-new-app-help", "toggle scope")
	for _, absent := range []string{"roll", "keys tab", "create API key", "delete key"} {
		if strings.Contains(s, absent) {
			t.Errorf("the new app's help lists %q:\n%s", absent, s)
		}
	}
}

// TestToastStaysWithItsPage: a message about one page is gone on the next.
func TestToastStaysWithItsPage(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("e", "c")
	ct.typeText("one-more")
	ct.press("enter")
	ct.waitFor("Copy and Close")
	ct.press("enter")
	ct.waitFor("API key copied")
	ct.press("esc")
	if s := ct.waitFor("Create an App"); strings.Contains(s, "copied") {
		t.Errorf("the message followed to the list:\n%s", s)
	}
}

// TestBreadcrumbKeepsWhereYouAre: on a narrow screen the breadcrumb gives
// way from its start, keeping the page's own name.
func TestBreadcrumbKeepsWhereYouAre(t *testing.T) {
	st := newTestStore(t)
	if _, err := st.CreateApp(t.Context(), testAdmin, "Payments reconciliation", scopes.Full()); err != nil {
		t.Fatal(err)
	}
	ct := startConsole(t, st, testAdmin, 64, 18)
	ct.waitFor("All scopes") // every scope, said so
	ct.press("e")
	s := ct.waitFor("API Keys")
	if header := strings.Split(s, "\n")[0]; !strings.Contains(header, "API Scopes › Payments reconcil") ||
		!strings.Contains(header, "alice (admin)") {
		t.Errorf("the breadcrumb cut where the admin is: %q", header)
	}
}

// TestTooSmall: a terminal below the minimum gets a message that fits it,
// however small; growing it brings the console back.
func TestTooSmallFits(t *testing.T) {
	st := newTestStore(t)
	ct := startConsole(t, st, testAdmin, 30, 8)
	s := ct.golden("screen-30x8-too-small", "Terminal too small")
	for _, l := range strings.Split(s, "\n") {
		if ansi.StringWidth(l) > 30 {
			t.Errorf("a line is wider than the terminal: %q", l)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(s), " "), "needs at least 64×18") {
		t.Errorf("the message is cut:\n%s", s)
	}
	ct.tm.Send(tea.WindowSizeMsg{Width: 64, Height: 18})
	ct.waitFor("Create an API App")
}

// TestDoneWithoutAKeyAsks: the key step is necessary; Done with no key asks,
// and can go to Create API Key instead.
func TestDoneWithoutAKeyAsks(t *testing.T) {
	forSizes(t, "screen", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("enter", "tab", "space", "ctrl+s")
		ct.waitFor("created.")
		ct.press("tab", "enter")
		ct.golden(name("done-without-key"), "Done without an API key?")
		ct.press("enter") // Create API Key has the focus
		ct.waitFor("Create new API key")
		ct.press("esc", "esc")
		ct.waitFor("Done without an API key?")
		ct.press("y")
		ct.waitFor("Create an App")
	})
}

// TestClickOnAppNamedLikeAButton: a click lands on what is drawn under it,
// whatever its text: an app named "[ Delete ]" is selected, then opened,
// never deleted.
func TestClickOnAppNamedLikeAButton(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	if _, err := st.CreateApp(t.Context(), testAdmin, "[ Delete ]", scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.clickOn("[ Delete ]", 1) // its row, the first on screen
	s := ct.waitFor("› [ Delete ]")
	if strings.Contains(s, "Delete app") {
		t.Fatalf("a click on the row opened a deletion:\n%s", s)
	}
	ct.clickOn("[ Delete ]", 1)
	s = ct.waitFor("Keys change at once")
	if !strings.Contains(strings.Split(s, "\n")[0], "[ Delete ]") {
		t.Errorf("the second click did not open the app:\n%s", s)
	}
	requireApps(t, st, 4)
}

// TestQuitQuestions: ctrl+c asks where esc would, in the words of quitting:
// with unsaved edits, and with a key on screen.
func TestQuitQuestions(t *testing.T) {
	forSizes(t, "screen", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("e", "shift+tab")
		ct.typeText(" Ops")
		ct.press("ctrl+c")
		s := ct.golden(name("quit-without-saving"), "Quit without saving?")
		if !strings.Contains(s, `"Customer Support" → "Customer Support Ops"`) {
			t.Errorf("the question does not say what is not saved:\n%s", s)
		}
		ct.press("esc", "esc", "tab", "enter") // back to the list, discarding
		ct.waitFor("Create an App")
		ct.press("e", "c")
		ct.typeText("late-night")
		ct.press("enter")
		ct.waitFor("Copy and Close")
		ct.press("ctrl+c")
		s = ct.golden(name("quit-without-copying"), "Quit without copying?")
		if !keyPattern.MatchString(s) {
			t.Errorf("the key left the screen with the question:\n%s", s)
		}
	})
}
