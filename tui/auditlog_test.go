package tui

import (
	"fmt"
	"strings"
	"testing"

	"apiscopes/scopes"
)

// seedHistory gives the bank's apps a past worth auditing: a rename, a
// change of scopes, a deleted key and a deleted app.
func seedHistory(t *testing.T, ct *consoleTest) {
	t.Helper()
	st := ct.st
	apps := requireApps(t, st, 3) // Customer Support, Marketing, Risk & Compliance
	renamed, err := st.SaveApp(t.Context(), testAdmin, apps[1], "Marketing & Growth", apps[1].Scopes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveApp(t.Context(), testAdmin, renamed, renamed.Name, scopes.NewSet(scopes.WorkflowExport)); err != nil {
		t.Fatal(err)
	}
	keys, err := st.Keys(t.Context(), apps[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteKey(t.Context(), testAdmin, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteApp(t.Context(), testAdmin, apps[0].ID); err != nil {
		t.Fatal(err)
	}
}

// TestAuditLog: the Audit Log opens with a from the list (the navigation is
// folded at 80 columns), lists changes newest first with the scopes before
// and after, filters with /, and esc goes back to API Scopes.
func TestAuditLog(t *testing.T) {
	forSizes(t, "audit", func(t *testing.T, w, h int, name func(string) string) {
		{
			st := newTestStore(t)
			seedBank(t, st)
			ct := startConsole(t, st, testAdmin, w, h)
			seedHistory(t, ct)
			ct.press("a")
			s := ct.golden(fmt.Sprintf("audit-%dx%d-deleted-app", w, h), "Change  1 API key deleted with it")
			if i, j := strings.Index(s, "deleted app"), strings.Index(s, "created app"); i < 0 || j >= 0 && j < i {
				t.Errorf("the newest change is not first:\n%s", s)
			}
			ct.press("down", "down")
			ct.golden(fmt.Sprintf("audit-%dx%d-scopes-changed", w, h), "Before  Export workflow, Export Model")
			ct.press("/")
			ct.typeText("risk")
			s = ct.golden(fmt.Sprintf("audit-%dx%d-filter", w, h), "of 10 events")
			if strings.Contains(s, "Marketing") {
				t.Error("the filter let Marketing through")
			}
			ct.press("enter", "esc", "esc")
			ct.waitFor("Create an App")
		}
	})
}

// TestAuditLogEmpty: a new database says what will appear.
func TestAuditLogEmpty(t *testing.T) {
	forSizes(t, "audit", func(t *testing.T, w, h int, name func(string) string) {
		ct := startConsole(t, newTestStore(t), testAdmin, w, h)
		ct.press("a")
		ct.golden(name("empty"), "Nothing has changed yet")
		ct.press("s")
		ct.waitFor("No API apps yet")
	})
}

// TestAuditLogLive: a change made elsewhere appears in an open Audit Log,
// and the selected event stays selected.
func TestAuditLogLive(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("a")
	ct.waitFor("created app · Marketing")
	bob := testAdmin
	bob.Name = "bob"
	if _, err := st.CreateApp(t.Context(), bob, "Treasury", scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	s := ct.waitFor("Treasury")
	if !strings.Contains(s, "created app · Marketing") {
		t.Errorf("the selection moved:\n%s", s)
	}
}
