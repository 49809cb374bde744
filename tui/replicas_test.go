package tui

import (
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/etcd"
	"apiscopes/store/etcd/etcdtest"
)

// noClose keeps an engine two stores share open until the test ends.
type noClose struct{ store.Engine }

func (noClose) Close() error { return nil }

// TestTwoReplicasEditOneApp: two consoles on two stores that share one
// database, as SSH consoles on two replicas of a cluster do, edit the same
// app. The first Save wins and shows on the other console; the second is
// refused with the conflict dialog, and Reload shows the first's version.
// It runs on two stores sharing the in-memory engine, and on two replicas
// of an etcd cluster, each with its own engine.
func TestTwoReplicasEditOneApp(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		eng := store.NewMemory()
		t.Cleanup(func() { eng.Close() })
		twoReplicasEditOneApp(t, func() store.Engine { return noClose{eng} })
	})
	t.Run("etcd", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts an etcd member")
		}
		member := etcdtest.Start(t)
		twoReplicasEditOneApp(t, func() store.Engine {
			eng, err := etcd.Open(etcd.Config{Endpoints: []string{member.Endpoint}})
			if err != nil {
				t.Fatal(err)
			}
			return eng
		})
	})
}

func twoReplicasEditOneApp(t *testing.T, engine func() store.Engine) {
	open := func() *store.Store {
		st, err := store.New(engine(), testStoreOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a := open()
	seedBank(t, a)
	b := open()
	bob := store.Actor{Name: "bob", Role: store.Admin, Origin: "test"}
	ca := startConsole(t, a, testAdmin, 80, 24)
	cb := startConsole(t, b, bob, 80, 24)
	ca.press("down", "e", "tab", "space") // Marketing on replica A: tick Deploy workflow, not saved yet
	ca.waitFor("[x] Deploy workflow")
	cb.press("down", "e", "tab", "down", "down", "down", "down", "down", "down", "down", "down", "space") // on replica B
	cb.waitFor("[x] Deploy Guardrails")
	cb.press("ctrl+s")
	cb.waitFor(`App "Marketing" updated.`)
	ca.press("ctrl+s")
	ca.waitFor("Someone else changed this app")
	apps, _ := a.Apps(t.Context())
	if m := apps[1]; !m.Scopes.Allows(scopes.GuardrailDeploy) || m.Scopes.Allows(scopes.WorkflowDeploy) {
		t.Fatalf("the second save overwrote the first: %v", m.Scopes)
	}
	ca.press("y") // Reload
	if s := ca.waitFor("[x] Deploy Guardrails"); s == "" {
		t.Fatal("reload does not show the other replica's version")
	}
}
