package bolt_test

import (
	"slices"
	"testing"
	"time"

	"path/filepath"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// TestScopeUsage: after checks on two scopes of a four-scope app, the other
// two are unused since tracking began; denials of a recognised key are
// counted per scope; an unknown key leaves no trace; lookups survive a
// restart (written coalesced at Close) and a key's deletion.
func TestScopeUsage(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "usage.db")
	st, err := bolt.OpenStore(path, bolt.Options{}, store.WithClock(clock), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	since, err := st.UsageSince(t.Context())
	if err != nil || !since.Equal(now) {
		t.Fatalf("UsageSince %v, %v", since, err)
	}
	admin := store.Actor{Name: "amara", Role: store.Admin}
	four := scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport, scopes.WorkflowDeploy, scopes.WorkflowExport)
	app, _ := st.CreateApp(t.Context(), admin, "Risk", four)
	text, key, _ := st.CreateKey(t.Context(), admin, app.ID, "prod")
	now = now.Add(time.Hour)
	st.Verify(text, scopes.ModelDeploy)
	now = now.Add(time.Minute)
	st.Verify(text, scopes.WorkflowDeploy)
	st.Verify(text, scopes.GuardrailDeploy)
	st.Verify(text, scopes.GuardrailDeploy)
	st.Verify("aps_"+text[4:10]+"x"+text[11:], scopes.ModelExport) // not a key it knows
	if err := st.DeleteKey(t.Context(), admin, key.ID); err != nil {
		t.Fatal(err)
	}
	check := func(st *store.Store) {
		t.Helper()
		u, err := st.AppUsage(t.Context(), app.ID)
		if err != nil {
			t.Fatal(err)
		}
		unused := u.Unused(since.Add(time.Nanosecond))
		if !slices.Equal(unused, []scopes.ID{scopes.WorkflowExport, scopes.ModelExport}) {
			t.Fatalf("unused %v", unused)
		}
		byID := map[scopes.ID]store.ScopeUse{}
		for _, s := range u.Scopes {
			byID[s.Scope] = s
		}
		if got := byID[scopes.ModelDeploy].LastUsed; !got.Equal(since.Add(time.Hour)) {
			t.Errorf("model:deploy last used %v", got)
		}
		if g := byID[scopes.GuardrailDeploy]; g.Granted || g.Denied != 2 {
			t.Errorf("guardrail:deploy %+v, want 2 denials", g)
		}
		if g := byID[scopes.ModelExport]; g.Denied != 0 || !g.LastUsed.IsZero() {
			t.Errorf("an unknown key left a trace: %+v", g)
		}
	}
	check(st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// What Close wrote is what the next process reads.
	st2, err := bolt.OpenStore(path, bolt.Options{}, store.WithClock(clock), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	check(st2)
}
