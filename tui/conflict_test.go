package tui

import (
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// TestSaveAfterSomeoneElseSaved: two admins edit the same app; the second
// Save is refused with who changed what, and Reload shows their version.
// Nothing is overwritten silently.
func TestSaveAfterSomeoneElseSaved(t *testing.T) {
	forSizes(t, "screen", testSaveAfterSomeoneElseSaved)
}

func testSaveAfterSomeoneElseSaved(t *testing.T, w, h int, name func(string) string) {
	st := newTestStore(t)
	seedBank(t, st)
	bob := store.Actor{Name: "bob", Role: store.Admin, Origin: "test"}
	ct := startConsole(t, st, testAdmin, w, h)
	ct.press("down", "e", "tab", "space") // Marketing: tick Deploy workflow, not saved yet
	ct.waitFor("[x] Deploy workflow")

	apps, _ := st.Apps()
	marketing := apps[1]
	if _, err := st.SaveApp(bob, marketing, "Marketing & Growth", marketing.Scopes.With(scopes.GuardrailDeploy)); err != nil {
		t.Fatal(err)
	}
	ct.press("ctrl+s")
	ct.golden(name("save-conflict"), "Someone else changed this app")
	if got, _ := st.App(marketing.ID); got.Name != "Marketing & Growth" || got.Scopes.Allows(scopes.WorkflowDeploy) {
		t.Fatalf("the second save overwrote the first: %+v", got)
	}
	ct.press("y") // Reload
	s := ct.waitFor(`Reloaded "Marketing & Growth".`)
	// Bob's version: Deploy workflow not ticked; Deploy Guardrails ticked,
	// below the fold at 64×18.
	if !strings.Contains(s, "[ ] Deploy workflow") || h >= 24 && !strings.Contains(s, "[x] Deploy Guardrails") {
		t.Fatalf("reload does not show bob's version:\n%s", s)
	}
}

// TestEditWindowFollowsOtherSessions: with no unsaved edits, the edit window
// shows another admin's change as soon as it is committed.
func TestEditWindowFollowsOtherSessions(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("down", "e")
	ct.waitFor("Marketing")
	apps, _ := st.Apps()
	if _, err := st.SaveApp(store.Actor{Name: "bob", Role: store.Admin}, apps[1], apps[1].Name, scopes.NewSet(scopes.GuardrailUndeploy)); err != nil {
		t.Fatal(err)
	}
	ct.waitFor("[x] Undeploy Guardrails")
}
