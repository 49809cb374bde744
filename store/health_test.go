package store

import (
	"testing"

	"apiscopes/scopes"
)

// TestHealth: Size follows the index, and IsOpen turns false when Close
// begins.
func TestHealth(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	mustCreateKey(t, s, app.ID, "a")
	mustCreateKey(t, s, app.ID, "b")
	if apps, keys := s.Size(); apps != 1 || keys != 2 || !s.IsOpen() || s.WriteErrors() != 0 {
		t.Fatalf("Size = %d, %d; open %v; write errors %d", apps, keys, s.IsOpen(), s.WriteErrors())
	}
	s.Close()
	if s.IsOpen() {
		t.Error("open after Close")
	}
}
