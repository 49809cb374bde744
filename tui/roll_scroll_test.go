package tui

import (
	"strings"
	"testing"

	"apiscopes/scopes"
)

// TestRollDialogScrollsToItsWarning: at 64×18, with long names, choosing
// Now brings the warning into sight with the choice, and ↑/↓ scroll the
// whole dialog.
func TestRollDialogScrollsToItsWarning(t *testing.T) {
	st := newTestStore(t)
	app, err := st.CreateApp(t.Context(), testAdmin, "Quarterly Regulatory Reporting EU", scopes.NewSet(scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKey(t.Context(), testAdmin, app.ID, "regulator-batch-exporter-eu-west-primary-for-the-quarterly-close"); err != nil {
		t.Fatal(err)
	}
	ct := startConsole(t, st, testAdmin, 64, 18)
	ct.press("e", "right", "tab", "r")
	ct.waitFor("Roll API key")
	ct.press("left", "left")
	s := ct.golden("keys-64x18-roll-now-long-names", "(•) Now")
	if !strings.Contains(s, "Caution: The old key stops working at once.") || !strings.Contains(s, "(•) Now") {
		t.Errorf("the warning or the choice is out of sight:\n%s", s)
	}
	for range 5 {
		ct.press("up")
	}
	if s := ct.waitFor("Roll API key"); !strings.Contains(s, "A new key replaces") || strings.Contains(s, "more above") {
		t.Errorf("↑ does not scroll to the top:\n%s", s)
	}
	for range 5 {
		ct.press("down")
	}
	if s := ct.waitFor("Roll API key"); !strings.Contains(s, "still using it are refused.") || strings.Contains(s, "more below") {
		t.Errorf("↓ does not scroll to the end:\n%s", s)
	}
}
