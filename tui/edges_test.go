package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"apiscopes/scopes"
)

// TestTitleFieldHoldsAWholeName: at 120×40 the title field is as wide as
// the longest name, which shows whole.
func TestTitleFieldHoldsAWholeName(t *testing.T) {
	st := newTestStore(t)
	ct := startConsole(t, st, testAdmin, 120, 40)
	ct.press("enter")
	ct.waitFor("Untitled app")
	name := "Quarterly Regulatory Reporting for the European Banking Authority" // 64 characters
	ct.tm.Send(tea.PasteMsg{Content: name})
	s := ct.waitFor(name)
	if rule := strings.TrimSpace(strings.TrimLeft(rowOf(s, "────"), " │")); len([]rune(rule)) < len(name) {
		t.Errorf("the field's rule is %d cells wide, shorter than a %d-character name", len([]rune(rule)), len(name))
	}
}

// TestTabFromTheScopesGoesToNext: the first tab from the scopes reaches the
// step forward, Next (Save in the window), then Cancel.
func TestTabFromTheScopesGoesToNext(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("n", "tab")
	ct.waitFor("› [ ] Deploy workflow")
	ct.press("tab")
	if f := ct.settled().focus; f != "p:"+fPrimary {
		t.Errorf("tab from the scopes went to %q, want Next", f)
	}
	ct.press("tab")
	if f := ct.settled().focus; f != "p:"+fCancel {
		t.Errorf("the second tab went to %q, want Cancel", f)
	}
	ct.press("esc")
	ct.waitFor("Create an App")
	ct.press("e", "tab") // the window opens on its tabs
	ct.waitFor("› [ ] Deploy workflow")
	ct.press("tab")
	if f := ct.settled().focus; f != "p:"+fPrimary {
		t.Errorf("tab from the window's scopes went to %q, want Save", f)
	}
}

// TestFirstAndLastInEveryList: g and G (home and end) go to the first and
// the last row of the scope list and the key list, as in the app list and
// the audit log.
func TestFirstAndLastInEveryList(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("G")
	ct.waitFor("› Risk & Compliance")
	ct.press("g")
	ct.waitFor("› Customer Support")
	ct.press("G", "e", "tab") // Risk & Compliance's scopes
	ct.waitFor("› [x] Deploy workflow")
	ct.press("G")
	ct.waitFor("› [ ] Undeploy Guardrails")
	ct.press("g")
	ct.waitFor("› [x] Deploy workflow")
	ct.press("right", "tab") // its keys
	ct.waitFor("› reports-prod")
	ct.press("G")
	ct.waitFor("› audit-trail")
	ct.press("home")
	ct.waitFor("› reports-prod")
	ct.press("esc", "a", "G")
	ct.waitFor("› 2026-03-14 09:30 UTC  alice     created app      Risk & Compliance")
}

// TestFilterCountsInTheSingular: one app is "1 app", not "1 apps".
func TestFilterCountsInTheSingular(t *testing.T) {
	st := newTestStore(t)
	if _, err := st.CreateApp(t.Context(), testAdmin, "Payments", scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("/")
	ct.typeText("zzz")
	if s := ct.waitFor("0 of 1 app"); strings.Contains(s, "1 apps") {
		t.Errorf("one app counted as apps:\n%s", s)
	}
}

// TestFilterPromptNamesUnused: the filter's prompt offers the unused: word,
// and once it finds apps the help says how to narrow them (u in the app).
func TestFilterPromptNamesUnused(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("/")
	s := ct.golden("screen-80x24-filter-prompt", "unused:30d")
	if !strings.Contains(rowOf(s, "Filter"), "name, creator, scope or unused:30d") {
		t.Errorf("the prompt does not offer unused:30d: %q", rowOf(s, "Filter"))
	}
	if help := rowOf(s, "apply filter"); !strings.Contains(help, "unused:30d unused scopes") {
		t.Errorf("the help does not explain unused:30d: %q", help)
	}
	ct.typeText("unused:30d")
	ct.press("enter")
	ct.waitFor("enter edit, then u unticks unused")
}
