package bolt

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

func copyFixture(t *testing.T) string {
	t.Helper()
	src, err := os.Open("testdata/schema1.db")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "old.db")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	return path
}

func TestSchema1Quick(t *testing.T) {
	path := copyFixture(t)
	ro, err := OpenStore(path, Options{ReadOnly: true}, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	apps, _ := ro.Apps()
	t.Logf("ro apps %+v", apps)
	ro.Close()
	st, err := OpenStore(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	apps, _ = st.Apps()
	for _, a := range apps {
		keys, _ := st.Keys(a.ID)
		t.Logf("%s %v %d %+v", a.Name, a.Scopes, a.Keys, keys)
	}
	admin := store.Actor{Name: "x", Role: store.Admin}
	a, err := st.CreateApp(admin, "New", scopes.NewSet(scopes.ModelDeploy))
	_, k, err2 := st.CreateKey(admin, a.ID, "n")
	t.Log(a.ID, err, k.ID, err2)
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}
