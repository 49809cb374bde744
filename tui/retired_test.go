package tui

import (
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// TestRetiredScopesShown: an app that holds a scope id this apiscopes does
// not know (one retired since) lists it as retired and not granted, beside
// the scopes it has; hostile text in such an id is cleaned.
func TestRetiredScopesShown(t *testing.T) {
	app := store.App{Name: "Risk", Scopes: scopes.NewSet(scopes.ModelDeploy), Retired: []string{"model:train", "x\x1b]0;t\a"}}
	if got, want := scopesLine(app), "Deploy Model · retired, not granted: model:train, "+clean("x\x1b]0;t\a"); got != want {
		t.Fatalf("scopesLine = %q, want %q", got, want)
	}
	if got := scopesLine(store.App{Scopes: scopes.NewSet(scopes.ModelDeploy)}); got != "Deploy Model" {
		t.Fatalf("scopesLine without retired ids = %q", got)
	}
}
