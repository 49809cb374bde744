package bolt_test

import (
	"path/filepath"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// TestBackupOfAnotherEngine: a store on an engine other than a file (here
// the memory engine, as a cluster would be) backs up into an ordinary
// database file that checks clean and opens with the same apps and keys.
func TestBackupOfAnotherEngine(t *testing.T) {
	st, err := store.New(store.NewMemory(), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, _ := st.CreateApp(t.Context(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	key, _, _ := st.CreateKey(t.Context(), admin, app.ID, "prod")
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := bolt.BackupFile(st, path); err != nil {
		t.Fatal(err)
	}
	if err := bolt.CheckFile(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	b, err := bolt.OpenStore(path, bolt.Options{ReadOnly: true}, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if d, _ := b.Verify(key, scopes.ModelDeploy); !d.Allowed || d.App().Name != "Risk" {
		t.Fatalf("the backup answers %+v", d)
	}
}
