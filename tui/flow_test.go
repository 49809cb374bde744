package tui

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

var keyPattern = regexp.MustCompile(`aps_[0-9A-Za-z]{49}`)

// TestSeedFlow walks the product page from the empty state to a deleted app,
// at 64×18, 80×24 and 120×40, checking the store at every step and the
// screen against a golden file at every screen. At 64×18, the smallest
// size, it also tabs around every screen: every button is reachable, on
// screen and visibly focused.
func TestSeedFlow(t *testing.T) {
	forSizes(t, "flow", testSeedFlow)
}

func testSeedFlow(t *testing.T, w, h int, name func(string) string) {
	st := newTestStore(t)
	ct := startConsole(t, st, testAdmin, w, h)
	golden := func(step, want string) string {
		t.Helper()
		s := ct.golden(name(step), want)
		if w == MinWidth && h == MinHeight {
			ct.walkFocus(step)
		}
		return s
	}

	// 1. The empty state offers Create an API App.
	golden("01-empty", "Create an API App")
	requireApps(t, st, 0)

	// 2. Create an API App → a new app titled "Untitled app".
	ct.press("enter")
	golden("02-new-app", "Untitled app")

	// 3. Name it and tick the four workflow and four model scopes.
	ct.typeText("Risk & Compliance")
	ct.press("tab")
	for i := 0; i < 8; i++ {
		ct.press("space", "down")
	}
	golden("03-new-app-filled", "[x] Export Model")
	requireApps(t, st, 0) // nothing is saved before Next

	// 4. Next (the first tab from the scopes) → success message → the key step.
	ct.press("tab", "enter")
	golden("04-key-step", `App "Risk & Compliance" created.`)
	app := requireApps(t, st, 1)[0]
	wantScopes := scopes.NewSet(scopes.WorkflowDeploy, scopes.WorkflowUndeploy, scopes.WorkflowImport, scopes.WorkflowExport,
		scopes.ModelDeploy, scopes.ModelUndeploy, scopes.ModelImport, scopes.ModelExport)
	if app.Name != "Risk & Compliance" || app.Scopes != wantScopes || app.CreatedBy != "alice" {
		t.Fatalf("created app = %+v", app)
	}

	// 5. Create API Key → the Create new API key dialog.
	ct.press("enter")
	golden("05-key-dialog", "Generate Key")

	// 6. Name it, Generate Key → the key, shown once.
	ct.typeText("reports-prod")
	ct.press("enter")
	s := golden("06-key-shown", "Copy and Close")
	shown := keyPattern.FindString(s)
	if shown == "" {
		t.Fatalf("no key on the screen:\n%s", s)
	}
	keys := requireKeys(t, st, app.ID, 1)
	if keys[0].Name != "reports-prod" || keys[0].Hint != "aps_…"+shown[len(shown)-4:] {
		t.Fatalf("stored key = %+v, shown %s", keys[0], shown)
	}

	// 7. Copy and Close → copied message; the key is listed by its hint only.
	ct.press("enter")
	s = golden("07-key-copied", "API key copied to the clipboard.")
	requireDecision(t, st, shown, scopes.ModelExport, store.Allowed)
	requireDecision(t, st, shown, scopes.GuardrailDeploy, store.ScopeNotGranted)
	if got := ct.copiedKeys(); len(got) != 1 || got[0] != shown {
		t.Fatalf("clipboard got %q, want the shown key", got)
	}
	if strings.Contains(s, shown) || !strings.Contains(s, keys[0].Hint) {
		t.Fatalf("after Copy and Close the key must be gone and its hint listed:\n%s", s)
	}

	// 8. Done → the list row shows name, scopes, creator, date and key count.
	ct.press("enter")
	s = golden("08-list", "Create an App")
	row := rowOf(s, "› Risk & Complian") // cut with "…" at 64 columns, whole in the pane below
	for _, want := range []string{"Workflows, ", " 1", "alice", "2026-03-14"} {
		if !strings.Contains(row, want) {
			t.Errorf("list row %q lacks %q", row, want)
		}
	}
	if !strings.Contains(s, "1 API key · created by alice on 2026-03-14") { // the selected app in full
		t.Errorf("the pane under the list does not show who made the app and when:\n%s", s)
	}

	// 9. Edit: rename, untick Export Model.
	ct.press("e")
	golden("09-edit", "API Keys")
	ct.press("shift+tab") // the tab bar has the focus; the title is before it
	ct.typeText(" EU")
	ct.press("tab", "tab") // title → tabs → scopes
	for i := 0; i < 7; i++ {
		ct.press("down")
	}
	ct.press("space")
	golden("10-edit-changed", "[ ] Export Model")
	if got, _ := st.App(t.Context(), app.ID); got.Name != app.Name || got.Scopes != wantScopes {
		t.Fatalf("the edit was saved before Save: %+v", got)
	}

	// 10. API Keys tab → delete the key, confirming the seed's caution.
	ct.press("shift+tab", "right", "tab")
	golden("11-edit-keys", "reports-prod")
	ct.press("d")
	golden("12-delete-key", "Caution: The key you are deleting")
	requireKeys(t, st, app.ID, 1) // not before the confirmation
	ct.press("tab", "enter")
	golden("13-key-deleted", `API key "reports-prod" deleted.`)
	requireKeys(t, st, app.ID, 0)
	requireDecision(t, st, shown, scopes.ModelDeploy, store.UnknownKey)

	// 11. Save → success message, the list shows the change.
	ct.press("ctrl+s")
	golden("14-saved", `App "Risk & Compliance EU" updated.`)
	got, err := st.App(t.Context(), app.ID)
	if err != nil || got.Name != "Risk & Compliance EU" || got.Scopes != wantScopes.Without(scopes.ModelExport) {
		t.Fatalf("saved app = %+v, %v", got, err)
	}

	// 12. Delete the app, confirming.
	ct.press("d")
	golden("15-delete-app", "Delete app")
	requireApps(t, st, 1)
	ct.press("tab", "enter")
	golden("16-empty-again", `App "Risk & Compliance EU" deleted.`)
	requireApps(t, st, 0)

	// Every change is in the audit trail, in order, with no key text.
	events, err := st.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for i := len(events) - 1; i >= 0; i-- {
		actions = append(actions, string(events[i].Action))
		if strings.Contains(fmt.Sprintf("%+v", events[i]), shown) {
			t.Errorf("audit event %d holds the key", events[i].Seq)
		}
	}
	if want := "app.create key.create key.delete app.update app.delete"; strings.Join(actions, " ") != want {
		t.Errorf("audit = %v, want %s", actions, want)
	}
}

func requireApps(t *testing.T, st *store.Store, n int) []store.App {
	t.Helper()
	apps, err := st.Apps(t.Context())
	if err != nil || len(apps) != n {
		t.Fatalf("store has %d apps (%v), want %d", len(apps), err, n)
	}
	return apps
}

func requireKeys(t *testing.T, st *store.Store, appID uint64, n int) []store.Key {
	t.Helper()
	keys, err := st.Keys(t.Context(), appID)
	if err != nil || len(keys) != n {
		t.Fatalf("app %d has %d keys (%v), want %d", appID, len(keys), err, n)
	}
	return keys
}

func requireDecision(t *testing.T, st *store.Store, key string, scope scopes.ID, want store.Reason) {
	t.Helper()
	d, err := st.Verify(key, scope)
	if err != nil || d.Reason != want {
		t.Fatalf("Verify(%s) = %v, %v; want %s", scope, d.Reason, err, want)
	}
}

// rowOf is the screen line that holds text.
func rowOf(screen, text string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, text) {
			return l
		}
	}
	return ""
}
