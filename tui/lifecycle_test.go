package tui

import (
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// riskApp is the third app of seedBank, the one with two keys.
func riskApp(t *testing.T, st *store.Store) store.App {
	t.Helper()
	return requireApps(t, st, 3)[2]
}

// TestKeyExpiryChoice: Generate Key offers never, 7, 30, 90 days or a date;
// the key shown once says when it expires, and the list shows it.
func TestKeyExpiryChoice(t *testing.T) {
	forSizes(t, "keys", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		app := riskApp(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "down", "e", "right", "c")
		ct.waitFor("Create new API key")
		ct.typeText("weekly")
		ct.press("tab", "right")
		ct.golden(name("expiry-choice"), "(•) 7 days")
		ct.press("enter")
		ct.golden(name("shown-with-expiry"), "weekly · Works until")
		keys := requireKeys(t, st, app.ID, 3)
		if k := keys[2]; k.Name != "weekly" || !k.ExpiresAt.Equal(k.CreatedAt.Add(7*24*time.Hour)) {
			t.Fatalf("key = %+v, want one expiring 7 days after its creation", k)
		}
		ct.press("enter")
		s := ct.waitFor("API key copied")
		if row := rowOf(s, "weekly"); !strings.Contains(row, keys[2].ExpiresAt.Format("2006-01-02")) || !strings.Contains(row, "never") {
			t.Errorf("the list row %q lacks the expiry date and the last use", row)
		}

		// A date: typed, checked, and the key works through that day.
		ct.press("c")
		ct.waitFor("Create new API key")
		ct.typeText("quarterly")
		ct.press("tab", "left", "tab")
		ct.typeText("2026-02-30")
		ct.press("enter")
		ct.golden(name("expiry-date-bad"), "2026-02-30 is not a day.")
		for range 10 {
			ct.press("backspace")
		}
		ct.typeText("next week")
		ct.press("enter")
		ct.waitFor("Enter the date as YYYY-MM-DD, e.g. 2026-04-14.")
		for range 9 {
			ct.press("backspace")
		}
		ct.typeText("2026-03-01")
		ct.press("enter")
		ct.waitFor("Choose an expiry date after today.")
		requireKeys(t, st, app.ID, 3)
		for range 10 {
			ct.press("backspace")
		}
		ct.typeText("2026-06-30")
		ct.press("enter")
		ct.waitFor("quarterly · Works through 2026-06-30")
		if k := requireKeys(t, st, app.ID, 4)[3]; !k.ExpiresAt.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("ExpiresAt = %v, want the end of 2026-06-30", k.ExpiresAt)
		}
	})
}

// TestKeyTableLifecycle: the key list marks expired and rolled keys, says
// when each was last used, and explains the selected key.
func TestKeyTableLifecycle(t *testing.T) {
	forSizes(t, "keys", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		app := riskApp(t, st)
		keys := requireKeys(t, st, app.ID, 2)
		// reports-prod is rolled with a day's grace; its new key is used once.
		text, _, _, err := st.RollKey(t.Context(), testAdmin, keys[0].ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		requireDecision(t, st, text, scopes.ModelDeploy, store.Allowed)
		// A key that expired before the console's clock.
		if _, _, err := st.CreateKeyWith(t.Context(), testAdmin, app.ID, "trial", store.KeyOptions{ExpiresIn: 5 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "down", "e", "right", "tab")
		s := ct.golden(name("table-rolled"), "Rolled: works until deleted in 23 h")
		rows := map[string][]string{
			"reports-prod ": {"rolled, goes in 23 h", "never"},
			"audit-trail":   {"active", "never"},
			"(rolled)":      {"active", "1 h ago"},
			"trial":         {"expired", "never"},
		}
		if h < 24 {
			rows = nil // not every row is in view at 64×18: the next steps select them
		}
		for want, cells := range rows {
			row := rowOf(s, want)
			for _, c := range cells {
				if !strings.Contains(row, c) {
					t.Errorf("row %q lacks %q", row, c)
				}
			}
		}
		ct.press("down", "down", "down")
		ct.golden(name("table-expired"), "Expired on 2026-03-14")
		// A rolled key cannot be rolled again.
		ct.press("up", "up", "up", "r")
		ct.waitFor("This key was already rolled. Roll its new key instead.")
	})
}

// TestRollKey: Roll key makes a new key for the same app, shown once, and
// schedules the old key's deletion after the chosen grace period.
func TestRollKey(t *testing.T) {
	forSizes(t, "keys", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		app := riskApp(t, st)
		old := requireKeys(t, st, app.ID, 2)[0]
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "down", "e", "right", "tab", "r")
		ct.golden(name("roll-dialog"), "(•) In 24 hours")
		ct.press("esc")
		ct.waitFor("API Keys")
		requireKeys(t, st, app.ID, 2) // cancelled: nothing changed

		ct.press("r", "left", "left")
		ct.golden(name("roll-now"), "Caution: The old key stops working at once.")
		ct.press("right", "right", "right") // In 7 days
		ct.press("enter")
		s := ct.golden(name("rolled"), "API key rolled")
		shown := keyPattern.FindString(s)
		if shown == "" {
			t.Fatalf("no key on the screen:\n%s", s)
		}
		keys := requireKeys(t, st, app.ID, 3)
		if keys[0].ID != old.ID || keys[0].Name != old.Name || keys[0].Hint != old.Hint || keys[0].DeleteAt.IsZero() {
			t.Errorf("old key = %+v", keys[0])
		}
		if keys[2].Name != "reports-prod (rolled)" || !keys[0].DeleteAt.Equal(keys[2].CreatedAt.Add(7*24*time.Hour)) {
			t.Errorf("new key %+v, old deleted at %v", keys[2], keys[0].DeleteAt)
		}
		requireDecision(t, st, shown, scopes.ModelDeploy, store.Allowed)
		ct.press("enter")
		ct.waitFor("API key copied")
		if got := ct.copiedKeys(); len(got) != 1 || got[0] != shown {
			t.Errorf("copied %q", got)
		}
		events, _ := st.Audit(t.Context())
		if events[0].Action != store.ActionKeyRoll || events[0].KeyID != old.ID || events[0].Actor != "alice" {
			t.Errorf("audit = %+v", events[0])
		}
	})
}

// TestScopeImpactPreview: Save shows which keys gain and lose which scopes
// before it changes anything; an app without keys in use saves at once.
func TestScopeImpactPreview(t *testing.T) {
	forSizes(t, "keys", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		app := riskApp(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "down", "e", "tab", "space") // untick Deploy workflow
		for range 8 {
			ct.press("down")
		}
		ct.press("space", "ctrl+s") // tick Deploy Guardrails, save
		s := ct.golden(name("save-impact"), "Save scope changes?")
		for _, want := range []string{"+ Deploy Guardrails", "− Deploy workflow", "reports-prod, audit-trail"} {
			if !strings.Contains(s, want) {
				t.Errorf("the preview lacks %q", want)
			}
		}
		ct.press("enter") // Keep editing has the focus
		ct.waitFor("[x] Deploy Guardrails")
		if got, _ := st.App(t.Context(), app.ID); got.Scopes != app.Scopes {
			t.Fatal("saved before the confirmation")
		}
		ct.press("ctrl+s", "tab", "enter")
		ct.waitFor(`App "Risk & Compliance" updated.`)
		want := app.Scopes.Without(scopes.WorkflowDeploy).With(scopes.GuardrailDeploy)
		if got, _ := st.App(t.Context(), app.ID); got.Scopes != want {
			t.Errorf("scopes = %v, want %v", got.Scopes, want)
		}

		// Marketing has no keys: nothing to preview.
		ct.press("up", "e", "tab", "space", "ctrl+s")
		ct.waitFor(`App "Marketing" updated.`)
	})
}
