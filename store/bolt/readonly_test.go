package bolt

import (
	"bytes"
	"net/netip"
	"os"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// TestReadOnlyStoreVerifiesAndClosesWithoutWriting: checks through a
// read-only store answer as usual, and closing it writes nothing, not even
// the last-used times it noted.
func TestReadOnlyStoreVerifiesAndClosesWithoutWriting(t *testing.T) {
	s := newStore(t)
	text, _ := mustKey(t, s, mustApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy)).ID, "prod")
	path := fileOf(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	r, err := OpenStore(path, Options{ReadOnly: true}, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Verify(text, scopes.ModelDeploy, netip.Addr{}); !d.Allowed {
		t.Fatalf("Verify = %v", d)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a read-only store changed the file")
	}
}
