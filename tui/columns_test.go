package tui

import (
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// seedLongNames is the bank with long names everywhere: apps, their
// makers, keys, a rename and a change of scopes.
func seedLongNames(t *testing.T, st *store.Store) {
	t.Helper()
	seedBank(t, st)
	seedLongApp(t, st)
}

// seedLongApp is an app made, keyed, renamed and re-scoped by someone with
// a long name.
func seedLongApp(t *testing.T, st *store.Store) {
	t.Helper()
	amara := store.Actor{Name: "amara.okafor-compliance", Role: store.Admin}
	app, err := st.CreateApp(t.Context(), amara, "Quarterly Regulatory Reporting", scopes.NewSet(scopes.ModelExport, scopes.WorkflowExport))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKey(t.Context(), amara, app.ID, "regulator-batch-exporter-eu-west"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKeyWith(t.Context(), amara, app.ID, "quarterly-close", store.KeyOptions{ExpiresIn: 30 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if app, err = st.SaveApp(t.Context(), amara, app, "Quarterly Regulatory Reporting EU", scopes.NewSet(scopes.ModelExport, scopes.ModelDeploy)); err != nil {
		t.Fatal(err)
	}
}

// headerOf is the table's header line: the one that starts with title.
func headerOf(t *testing.T, s, title string) string {
	t.Helper()
	for _, l := range strings.Split(s, "\n") {
		content := l
		if _, after, ok := strings.Cut(l, "│"); ok { // right of the navigation
			content = after
		}
		if strings.HasPrefix(strings.TrimLeft(strings.TrimLeft(content, " │"), " "), title+" ") {
			return l
		}
	}
	t.Fatalf("no table header starting %q:\n%s", title, s)
	return ""
}

// TestListsKeepTheirColumns: with long names, at every size the console
// supports, the app list keeps Name, Scopes, Created by, Created on and
// Keys, cutting names with "…" instead; the key list keeps the hint and
// the status whole; the audit log keeps When and Who, and at 120 columns
// and wider Target and Change share the room.
func TestListsKeepTheirColumns(t *testing.T) {
	forSizes(t, "columns", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedLongNames(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "down")
		s := ct.golden(name("apps"), "› Quarterly Regul")
		head := headerOf(t, s, "Name")
		for _, title := range []string{"Name", "Scopes", "Created by", "Created on", "Keys"} {
			if !strings.Contains(head, title) {
				t.Errorf("the app list lost %q: %q", title, head)
			}
		}
		if row := rowOf(s, "› Quarterly"); !strings.Contains(row, "…") || !strings.Contains(row, "2026-03-14") || !strings.HasSuffix(row, " 2") {
			t.Errorf("the long name's row does not keep its summary: %q", row)
		}

		ct.press("e", "right", "tab")
		s = ct.golden(name("keys"), "regulator-batch-exporter-eu-west") // whole in the pane
		head = headerOf(t, s, "Name")
		for _, title := range []string{"Key", "Status"} {
			if !strings.Contains(head, title) {
				t.Errorf("the key list lost %q: %q", title, head)
			}
		}
		if row := rowOf(s, "aps_…xj7i"); !strings.Contains(row, "› ") || !strings.Contains(row, "active") {
			t.Errorf("the key's row lost its hint or status: %q", row)
		}

		ct.press("esc", "a")
		s = ct.golden(name("audit"), "Quarterly Regulatory Reporting EU")
		head = headerOf(t, s, "When")
		if !strings.Contains(head, "Who") {
			t.Errorf("the audit log lost Who: %q", head)
		}
		if row := rowOf(s, "› 2026"); !strings.Contains(row, "amara.") {
			t.Errorf("the audit log's row does not say who: %q", row)
		}
		if w >= 120 && !strings.Contains(head, "Change") {
			t.Errorf("the audit log lost Change at %d columns: %q", w, head)
		}
	})
}

// TestWideAuditLogSharesTheRoom: at 200 columns a long change of scopes
// and its target show whole, side by side; with longer texts than fit,
// both are cut, neither left with room to spare.
func TestWideAuditLogSharesTheRoom(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	support := requireApps(t, st, 3)[0]
	if _, err := st.SaveApp(t.Context(), testAdmin, support, "Customer Support and Complaints", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	ct := startConsole(t, st, testAdmin, 200, 40)
	ct.press("a")
	s := ct.waitFor("Customer Support and Complaints")
	row := rowOf(s, "› 2026")
	for _, want := range []string{"Customer Support and Complaints",
		`was "Customer Support"; +Deploy Model +Export Model −Deploy Guardrails −Undeploy Guardrails`} {
		if !strings.Contains(row, want) {
			t.Errorf("the row at 200 columns cuts %q: %q", want, row)
		}
	}

	seedLongApp(t, st)
	ct.resize(160, 40)
	ct.waitFor(`was "Quarterly Regulatory Reporting"`) // the last change has arrived
	ct.press("g")
	s = ct.waitFor("changed app · Quarterly Regulatory Reporting EU")
	row = rowOf(s, "› 2026")
	if !strings.Contains(row, "…  was") || !strings.HasSuffix(strings.TrimSpace(row), "…") {
		t.Errorf("target and change do not share the room: one is cut while the other has room to spare: %q", row)
	}
}
