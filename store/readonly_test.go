package store

import (
	"bytes"
	"os"
	"testing"

	"apiscopes/scopes"
)

// TestReadOnlyStoreVerifiesAndClosesWithoutWriting: checks through a
// read-only store (apiscopes verify) answer as usual, and closing it
// writes nothing, not even the last-used times it noted.
func TestReadOnlyStoreVerifiesAndClosesWithoutWriting(t *testing.T) {
	s := newTestStore(t)
	text, _ := mustCreateKey(t, s, mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy)).ID, "prod")
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	r, err := Open(path, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := r.Verify(text, scopes.ModelDeploy); err != nil || !d.Allowed {
		t.Fatalf("Verify = %v, %v", d, err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a read-only store changed the file")
	}
}
