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

	apps, _ := st.Apps(t.Context())
	marketing := apps[1]
	if _, err := st.SaveApp(t.Context(), bob, marketing, "Marketing & Growth", marketing.Scopes.With(scopes.GuardrailDeploy)); err != nil {
		t.Fatal(err)
	}
	ct.press("ctrl+s")
	ct.golden(name("save-conflict"), "Someone else changed this app")
	if got, _ := st.App(t.Context(), marketing.ID); got.Name != "Marketing & Growth" || got.Scopes.Allows(scopes.WorkflowDeploy) {
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
	apps, _ := st.Apps(t.Context())
	if _, err := st.SaveApp(t.Context(), store.Actor{Name: "bob", Role: store.Admin}, apps[1], apps[1].Name, scopes.NewSet(scopes.GuardrailUndeploy)); err != nil {
		t.Fatal(err)
	}
	ct.waitFor("[x] Undeploy Guardrails")
}

// TestLiveRenameUnderTheCursor: admin B renames Marketing while admin A has
// its title focused with no edit; A's field follows with the cursor at the
// end, so what A types goes after B's name, never into it.
func TestLiveRenameUnderTheCursor(t *testing.T) {
	forSizes(t, "live", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		bob := store.Actor{Name: "bob", Role: store.Admin, Origin: "test"}
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "e", "shift+tab") // Marketing's title, focused, untouched
		ct.waitFor("enter to scopes")
		marketing := requireApps(t, st, 3)[1]
		if _, err := st.SaveApp(t.Context(), bob, marketing, "Marketing A", marketing.Scopes); err != nil {
			t.Fatal(err)
		}
		ct.waitFor("Marketing A")
		ct.typeText(" B")
		ct.golden(name("renamed-under-cursor"), "Marketing A B")
		ct.press("ctrl+s")
		ct.waitFor(`App "Marketing A B" updated.`)
		if got, _ := st.App(t.Context(), marketing.ID); got.Name != "Marketing A B" {
			t.Errorf("saved %q, want %q", got.Name, "Marketing A B")
		}
	})
}

// TestDiscardAfterConflictComparesWithWhatIsStored: after a conflict and
// Keep editing, leaving asks about the edits against what is stored now,
// not against the version the window first read.
func TestDiscardAfterConflictComparesWithWhatIsStored(t *testing.T) {
	forSizes(t, "live", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		bob := store.Actor{Name: "bob", Role: store.Admin, Origin: "test"}
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("e", "shift+tab") // Customer Support
		ct.typeText(" Ops")
		ct.press("tab", "tab", "space") // and tick Deploy workflow
		ct.waitFor("[x] Deploy workflow")
		support := requireApps(t, st, 3)[0]
		if _, err := st.SaveApp(t.Context(), bob, support, "Customer Care", support.Scopes.With(scopes.ModelDeploy)); err != nil {
			t.Fatal(err)
		}
		ct.press("ctrl+s")
		ct.waitFor("Save scope changes?")
		ct.press("y")
		ct.waitFor("Someone else changed this app")
		ct.press("esc") // Keep editing
		ct.waitFor("Customer Support Ops")
		ct.press("esc")
		s := ct.golden(name("discard-after-conflict"), "are not saved")
		flat := strings.Join(strings.Fields(s), " ")
		for _, want := range []string{`changes to "Customer Care" are not saved`, `"Customer Care" → "Customer Support Ops"`,
			"+Deploy workflow −Deploy Model"} {
			if !strings.Contains(flat, want) {
				t.Errorf("the question lacks %q:\n%s", want, s)
			}
		}
		if strings.Contains(flat, `"Customer Support" →`) {
			t.Errorf("the question compares with the stale name:\n%s", s)
		}
		ct.press("tab", "enter") // Discard
		ct.waitFor("› Customer Care")
	})
}
