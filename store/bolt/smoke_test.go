package bolt

import (
	"path/filepath"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

func TestSmoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	st, err := OpenStore(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, err := st.CreateApp(admin, "", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	sub := st.Subscribe()
	text, k, err := st.CreateKey(admin, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	up := <-sub.C
	t.Logf("update %+v", up)
	d, _ := st.Verify(text, scopes.ModelDeploy)
	if !d.Allowed {
		t.Fatalf("%+v", d)
	}
	d, _ = st.Verify(text, scopes.ModelExport)
	if d.Reason != store.ScopeNotGranted {
		t.Fatalf("%+v", d)
	}
	if _, _, _, err := st.RollKey(admin, k.ID, 0); err != nil {
		t.Fatal(err)
	}
	if d, _ = st.Verify(text, scopes.ModelDeploy); d.Reason != store.UnknownKey {
		t.Fatalf("%+v", d)
	}
	if _, err := st.CreateApps(admin, []store.AppSpec{{Name: "big", Scopes: scopes.Full(), Keys: manyNames(60)}}); err != nil {
		t.Fatal(err)
	}
	apps, _ := st.Apps()
	if err := st.DeleteApp(admin, apps[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = OpenStore(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	apps, _ = st.Apps()
	ev, _ := st.Audit()
	t.Logf("apps %d events %d first %+v", len(apps), len(ev), ev[0])
}

func manyNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, "k"+string(rune('A'+i%26))+string(rune('a'+i/26)))
	}
	return out
}
