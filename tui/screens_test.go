package tui

import (
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// seedBank fills a store with the seed's three departments.
func seedBank(t *testing.T, st *store.Store) {
	t.Helper()
	wf := scopes.NewSet(scopes.WorkflowDeploy, scopes.WorkflowUndeploy, scopes.WorkflowImport, scopes.WorkflowExport)
	md := scopes.NewSet(scopes.ModelDeploy, scopes.ModelUndeploy, scopes.ModelImport, scopes.ModelExport)
	for _, a := range []struct {
		name string
		set  scopes.Set
		keys []string
	}{
		{"Risk & Compliance", wf | md, []string{"reports-prod", "audit-trail"}},
		{"Customer Support", scopes.NewSet(scopes.GuardrailDeploy, scopes.GuardrailUndeploy), []string{"support-bot"}},
		{"Marketing", scopes.NewSet(scopes.WorkflowExport, scopes.ModelExport), nil},
	} {
		app, err := st.CreateApp(t.Context(), testAdmin, a.name, a.set)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range a.keys {
			if _, _, err := st.CreateKey(t.Context(), testAdmin, app.ID, k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestScreens pins the screens and dialogs the seed flow does not pass
// through, at 80×24 and 120×40.
func TestScreens(t *testing.T) {
	forSizes(t, "screen", func(t *testing.T, w, h int, name func(string) string) {
		{
			t.Run("filter", func(t *testing.T) {
				st := newTestStore(t)
				seedBank(t, st)
				ct := startConsole(t, st, testAdmin, w, h)
				ct.press("/")
				ct.typeText("sup")
				s := ct.golden(name("filter"), "Customer Support")
				if strings.Contains(s, "Marketing") {
					t.Error("the filter let Marketing through")
				}
				ct.press("enter", "esc")
				ct.waitFor("Marketing")
			})
			t.Run("help", func(t *testing.T) {
				st := newTestStore(t)
				seedBank(t, st)
				ct := startConsole(t, st, testAdmin, w, h)
				ct.press("?")
				ct.golden(name("help"), "fewer keys")
			})
			t.Run("next needs a scope", func(t *testing.T) {
				st := newTestStore(t)
				ct := startConsole(t, st, testAdmin, w, h)
				ct.press("n", "ctrl+s")
				ct.golden(name("next-needs-scope"), "Select at least one scope.")
				requireApps(t, st, 0)
			})
			t.Run("discard new app", func(t *testing.T) {
				st := newTestStore(t)
				ct := startConsole(t, st, testAdmin, w, h)
				ct.press("n")
				ct.typeText("Half-made")
				ct.press("esc")
				ct.golden(name("discard-new"), "Discard unsaved changes?")
				ct.press("enter") // Keep editing has the focus
				ct.waitFor("Half-made")
				ct.press("esc", "y")
				ct.waitFor("No API apps yet")
				requireApps(t, st, 0)
			})
			t.Run("key name errors", func(t *testing.T) {
				st := newTestStore(t)
				seedBank(t, st)
				ct := startConsole(t, st, testAdmin, w, h)
				ct.press("down", "down", "e", "right", "c") // Risk & Compliance, sorted third; the tab bar has the focus
				ct.waitFor("Create new API key")
				ct.press("enter")
				ct.golden(name("key-name-empty"), "Enter a name.")
				ct.typeText("REPORTS-PROD")
				ct.press("enter")
				ct.golden(name("key-name-taken"), "is already used by another key")
			})
			t.Run("close without copying", func(t *testing.T) {
				st := newTestStore(t)
				seedBank(t, st)
				ct := startConsole(t, st, testAdmin, w, h)
				ct.press("e", "c") // Customer Support, from its tab bar
				ct.waitFor("Create new API key")
				ct.typeText("backup")
				ct.press("enter", "esc")
				ct.golden(name("close-without-copying"), "Close without copying?")
				ct.press("enter") // back to the key
				ct.waitFor("Copy and Close")
				ct.press("esc", "tab", "enter")
				s := ct.waitFor(`API key "backup" created; it was not copied`)
				if keyPattern.MatchString(s) || len(ct.copiedKeys()) != 0 {
					t.Error("the key is still on screen or was copied")
				}
			})
			t.Run("discard edit", func(t *testing.T) {
				st := newTestStore(t)
				seedBank(t, st)
				ct := startConsole(t, st, testAdmin, w, h)
				ct.press("enter", "tab", "space", "esc")
				ct.golden(name("discard-edit"), "are not saved")
				ct.press("tab", "enter")
				ct.waitFor("Create an App")
				app := requireApps(t, st, 3)[0]
				if app.Scopes.Len() != 2 {
					t.Errorf("discarded change was saved: %v", app.Scopes)
				}
			})
		}
	})
}

// TestNameTakenIsCaseInsensitive shows the store's refusal inline and keeps
// the form as typed.
func TestNameTakenIsCaseInsensitive(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("n")
	ct.typeText("MARKETING")
	ct.press("tab", "space", "ctrl+s")
	ct.waitFor(`"MARKETING" is already used by another app. Choose another name.`)
	requireApps(t, st, 3)
}

// TestViewerCannotChange: a viewer sees everything; every change is
// visibly unavailable, and the store holds nothing they tried.
func TestViewerCannotChange(t *testing.T) {
	forSizes(t, "screen", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		viewer := store.Actor{Name: "victor", Role: store.Viewer}
		ct := startConsole(t, st, viewer, w, h)
		ct.press("n")
		ct.waitFor("viewers can't create apps")
		ct.press("d")
		ct.golden(name("viewer-refused"), "viewers can't delete apps")
		ct.press("enter") // view Customer Support: read-only
		ct.waitFor("Read-only: viewers can look but not change anything.")
		ct.press("tab", "space")
		ct.golden(name("viewer-edit"), "viewers can't change scopes")
		requireApps(t, st, 3)
		if app := requireApps(t, st, 3)[0]; app.Scopes.Len() != 2 {
			t.Errorf("a viewer changed scopes: %v", app.Scopes)
		}
	})
}

func TestCleanNeutralizesControls(t *testing.T) {
	for in, want := range map[string]string{
		"Risk & Compliance":         "Risk & Compliance",
		"\x1b]52;c;aGk=\x07evil":    "�]52;c;aGk=�evil",
		"\x1b[2Jwipe":               "�[2Jwipe",
		"line\rover":                "line�over",
		"c1\u009bcsi":               "c1�csi",
		"abc\u202Etxt.exe":          "abc�txt.exe",
		"bad\xffutf8":               "bad�utf8",
		"Ünïcödé names are fine 日本": "Ünïcödé names are fine 日本",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}
