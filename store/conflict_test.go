package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
)

func TestSaveAppRefusesToOverwriteAnotherChange(t *testing.T) {
	st := newTestStore(t)
	alice := Actor{Name: "alice", Role: Admin}
	bob := Actor{Name: "bob", Role: Admin}
	base, err := st.CreateApp(alice, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	// A key made meanwhile is not a conflict.
	if _, _, err := st.CreateKey(bob, base.ID, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveApp(alice, base, "Risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)); err != nil {
		t.Fatalf("save after a key change: %v", err)
	}
	base, _ = st.App(base.ID)

	// bob renames and re-scopes; alice's later save from the old base is refused.
	if _, err := st.UpdateApp(bob, base.ID, "Risk EU", scopes.NewSet(scopes.WorkflowDeploy)); err != nil {
		t.Fatal(err)
	}
	_, err = st.SaveApp(alice, base, "Risk (alice)", base.Scopes)
	var ce *ConflictError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	if what := ce.What(); !strings.Contains(what, `bob renamed it to "Risk EU"`) || !strings.Contains(what, "changed its scopes") {
		t.Errorf("What() = %q", what)
	}
	if got, _ := st.App(base.ID); got.Name != "Risk EU" {
		t.Errorf("the conflicting save wrote: %+v", got)
	}
}

func TestChangesSignalsCommitsOnly(t *testing.T) {
	st := newTestStore(t)
	ch, stop := st.Changes()
	defer stop()
	alice := Actor{Name: "alice", Role: Admin}
	if _, err := st.CreateApp(Actor{Name: "v", Role: Viewer}, "x", scopes.NewSet(scopes.ModelDeploy)); err == nil {
		t.Fatal("viewer wrote")
	}
	select {
	case <-ch:
		t.Fatal("a refused change was signalled")
	default:
	}
	if _, err := st.CreateApp(alice, "x", scopes.NewSet(scopes.ModelDeploy)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("a committed change was not signalled")
	}
	stop()
	if _, ok := <-ch; ok {
		t.Fatal("stop did not close the channel")
	}
}
