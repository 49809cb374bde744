package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// clickOn clicks the middle of the n-th occurrence (from 1) of text on the
// screen, as a person would point at it.
func (ct *consoleTest) clickOn(text string, n int) {
	ct.t.Helper()
	s := ct.waitFor(text)
	seen := 0
	for y, line := range strings.Split(s, "\n") {
		from := 0
		for {
			i := strings.Index(line[from:], text)
			if i < 0 {
				break
			}
			i += from
			if seen++; seen == n {
				x := ansi.StringWidth(line[:i]) + ansi.StringWidth(text)/2
				ct.tm.Send(tea.MouseClickMsg{X: x, Y: y, Button: tea.MouseLeft})
				return
			}
			from = i + len(text)
		}
	}
	ct.t.Fatalf("%q is not on the screen %d times:\n%s", text, n, s)
}

// TestMouseFlow: the seed's flow by clicks alone, keys only to type names.
func TestMouseFlow(t *testing.T) {
	forSizes(t, "mouse", func(t *testing.T, w, h int, _ func(string) string) {
		{
			st := newTestStore(t)
			ct := startConsole(t, st, testAdmin, w, h)
			ct.clickOn("[ Create an API App ]", 1)
			ct.waitFor("Name the app")
			ct.typeText("Risk & Compliance")
			ct.clickOn("Deploy workflow", 1)
			ct.clickOn("Deploy Model", 1)
			ct.clickOn("Deploy Model", 1) // and off again
			for range 3 {                 // on a short screen the list goes on below: the wheel brings it up
				ct.tm.Send(tea.MouseWheelMsg{X: 10, Y: 10, Button: tea.MouseWheelDown})
			}
			ct.clickOn("Export Model", 1)
			ct.waitFor("[x] Export Model")
			ct.clickOn("[ Next ]", 1)
			ct.waitFor(`App "Risk & Compliance" created.`)
			app := requireApps(t, st, 1)[0]
			if got := app.Scopes.String(); got != "workflow:deploy,model:export" {
				t.Fatalf("scopes by clicks = %s", got)
			}

			ct.clickOn("[ Create API Key ]", 1)
			ct.waitFor("Create new API key")
			ct.typeText("reports-prod")
			ct.clickOn("[ Generate Key ]", 1)
			ct.clickOn("[ Copy and Close ]", 1)
			ct.waitFor("API key copied")
			if len(ct.copiedKeys()) != 1 {
				t.Fatalf("copied %d keys", len(ct.copiedKeys()))
			}
			ct.clickOn("[ Done ]", 1)
			ct.waitFor("Create an App")

			ct.clickOn("Risk & Complian", 1) // its row (the name cut at 64 columns): selected already, so it opens
			ct.waitFor("API Keys")
			ct.clickOn("API Keys", 1)
			ct.waitFor("Last used")
			ct.clickOn("reports-prod", 1)
			ct.waitFor("› reports-prod")
			ct.clickOn("[ Delete key ]", 1) // as the seed clicks a key's Delete icon
			ct.waitFor("Caution: The key you are deleting")
			ct.clickOn("[ Delete ]", 1)
			ct.waitFor(`API key "reports-prod" deleted.`)
			requireKeys(t, st, requireApps(t, st, 1)[0].ID, 0)
			tab := 2 // after the breadcrumb's
			if w >= navMinWidth {
				tab = 3 // and the navigation's
			}
			ct.clickOn("API Scopes", tab)
			ct.clickOn("Undeploy workflow", 1)
			ct.clickOn("[ Save ]", 1) // no key left to gain or lose a scope: no question
			ct.waitFor(`App "Risk & Compliance" updated.`)
			if app := requireApps(t, st, 1)[0]; app.Scopes.Len() != 3 {
				t.Errorf("saved scopes = %v", app.Scopes)
			}
		}
	})
}

// TestMouseDialogsAndNavigation: a confirmation's buttons, the navigation,
// rows of the audit log, and the wheel.
func TestMouseDialogsAndNavigation(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 120, 40)
	ct.clickOn("Marketing", 1)
	ct.waitFor("› Marketing")
	ct.clickOn("[ Delete ]", 1) // the selected app's
	ct.clickOn("[ Cancel ]", 1)
	ct.waitFor("› Marketing")
	requireApps(t, st, 3)
	ct.clickOn("[ Delete ]", 1)
	ct.waitFor("Delete app")
	ct.clickOn("[ Delete ]", 1) // the dialog's, above the list's
	ct.waitFor(`App "Marketing" deleted.`)
	requireApps(t, st, 2)

	ct.clickOn("Audit Log", 1) // in the navigation
	ct.waitFor("newest first")
	ct.clickOn("created app", 2)
	s := ct.waitFor("› 2026")
	if !strings.Contains(s, "created app · Customer Support") {
		t.Errorf("the clicked event is not the selected one:\n%s", s)
	}
	ct.tm.Send(tea.MouseWheelMsg{X: 40, Y: 10, Button: tea.MouseWheelUp})
	ct.waitFor("created API key · Customer Support")
	ct.clickOn("API Scopes", 1) // the navigation's
	ct.waitFor("[ Create an App ]")
}
