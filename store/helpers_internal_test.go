package store

import (
	"testing"

	"apiscopes/scopes"
)

// Helpers for the package's own tests; the conformance suite
// (store/storetest) runs the store's behaviour on every engine.

var admin = Actor{Name: "Ada", Role: Admin}

// newTestStore is a store on the memory engine, closed with the test.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := New(NewMemory(), WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreateApp(t testing.TB, s *Store, name string, set scopes.Set) App {
	t.Helper()
	app, err := s.CreateApp(t.Context(), admin, name, set)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func mustCreateKey(t testing.TB, s *Store, appID uint64, name string) (string, Key) {
	t.Helper()
	text, k, err := s.CreateKey(t.Context(), admin, appID, name)
	if err != nil {
		t.Fatal(err)
	}
	return text, k
}
