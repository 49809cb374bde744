package tui

import (
	"fmt"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// makeRoom gives the store free pages inside its file, as a database in use
// has: it adds and removes apps with keys (leaving their audit events), so
// the next changes reuse pages instead of growing the file.
func makeRoom(t *testing.T, st *store.Store, actor store.Actor) {
	t.Helper()
	for i := range 20 {
		app, err := st.CreateApp(t.Context(), actor, fmt.Sprintf("scratch %d", i), scopes.Full())
		if err != nil {
			t.Fatal(err)
		}
		for k := range 10 {
			if _, _, err := st.CreateKey(t.Context(), actor, app.ID, fmt.Sprintf("scratch key %d", k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	apps, err := st.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if strings.HasPrefix(a.Name, "scratch ") {
			if err := st.DeleteApp(t.Context(), actor, a.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}
