package bolt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

var admin = storetest.Admin

// newStore opens a new database file in a temporary folder, with a test
// clock and random source and no background work, and closes it when the
// test ends.
func newStore(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "apiscopes.db"), opts...)
}

func openAt(t testing.TB, path string, opts ...store.Option) *store.Store {
	t.Helper()
	base := []store.Option{store.WithClock(storetest.NewClock(storetest.Epoch).Now), store.WithRandom(storetest.Random(1)),
		store.WithMaintenance(0)}
	st, err := OpenStore(path, Options{}, append(base, opts...)...)
	if err != nil {
		t.Fatalf("OpenStore(%s): %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fileOf is the database file of a store.
func fileOf(st *store.Store) string { return st.Engine().(*Engine).Path() }

func mustApp(t testing.TB, st *store.Store, name string, set scopes.Set) store.App {
	t.Helper()
	app, err := st.CreateApp(context.Background(), admin, name, set)
	if err != nil {
		t.Fatalf("CreateApp(%q): %v", name, err)
	}
	return app
}

func mustKey(t testing.TB, st *store.Store, appID uint64, name string) (string, store.Key) {
	t.Helper()
	text, key, err := st.CreateKey(context.Background(), admin, appID, name)
	if err != nil {
		t.Fatalf("CreateKey(%d, %q): %v", appID, name, err)
	}
	return text, key
}

// seedStore makes a few apps (Marketing among them) and keys, and returns
// the keys' texts.
func seedStore(t testing.TB, st *store.Store) []string {
	t.Helper()
	var texts []string
	for i, name := range []string{"Risk & Compliance", "Customer Support", "Marketing"} {
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		var set scopes.Set
		for set.IsEmpty() {
			for _, sc := range scopes.All() {
				if rng.IntN(2) == 0 {
					set = set.With(sc.ID)
				}
			}
		}
		app := mustApp(t, st, name, set.With(scopes.WorkflowDeploy))
		for k := range i + 1 {
			text, _ := mustKey(t, st, app.ID, fmt.Sprintf("key %d", k))
			texts = append(texts, text)
		}
	}
	return texts
}

// makeDatabase writes a small database file at path and closes it.
func makeDatabase(t testing.TB, path string) []string {
	t.Helper()
	st, err := OpenStore(path, Options{}, store.WithRandom(storetest.Random(3)), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	texts := seedStore(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return texts
}

// view is everything a caller reads from a store.
type view struct {
	apps  []store.App
	keys  map[uint64][]store.Key
	audit []store.Event
}

func read(t testing.TB, st *store.Store) view {
	t.Helper()
	apps, err := st.Apps(context.Background())
	if err != nil {
		t.Fatalf("Apps: %v", err)
	}
	v := view{apps: apps, keys: map[uint64][]store.Key{}}
	for _, a := range apps {
		if v.keys[a.ID], err = st.Keys(context.Background(), a.ID); err != nil {
			t.Fatalf("Keys(%d): %v", a.ID, err)
		}
		for i := range v.keys[a.ID] {
			v.keys[a.ID][i].LastUsedAt = v.keys[a.ID][i].LastUsedAt.UTC()
		}
	}
	if v.audit, err = st.Audit(context.Background()); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return v
}

// String shows a view in full, for comparing and for failure messages.
func (v view) String() string {
	var b strings.Builder
	for _, a := range v.apps {
		fmt.Fprintf(&b, "app %d %q %v retired %q by %s at %s, updated by %s at %s, rev %d, %d keys\n", a.ID, a.Name,
			a.Scopes, a.Retired, a.CreatedBy, a.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), a.UpdatedBy,
			a.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z"), a.Revision, a.Keys)
		for _, k := range v.keys[a.ID] {
			fmt.Fprintf(&b, "  key %d %q %s by %s at %s expires %s deleted %s used %s\n", k.ID, k.Name, k.Hint, k.CreatedBy,
				k.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), k.ExpiresAt.UTC(), k.DeleteAt.UTC(), k.LastUsedAt.UTC())
		}
	}
	for _, ev := range slices.Backward(v.audit) {
		session := ev.Session
		ev.Session = nil
		fmt.Fprintf(&b, "event %+v", ev)
		if session != nil {
			fmt.Fprintf(&b, " session %+v", *session)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
