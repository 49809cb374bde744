package bolt

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
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

// TestWriteErrorsAreCounted: a write the disk refuses is counted; a change
// the store itself refuses (a bad name) is not a write error.
func TestWriteErrorsAreCounted(t *testing.T) {
	s := newStore(t)
	mustApp(t, s, "Risk", scopes.Full()) // the file has room for the next change
	restore := storetest.FailWrites(t, fileOf(s), "/dev/full", os.O_WRONLY)
	_, err := s.CreateApp(admin, "Other", scopes.Full())
	restore()
	if !errors.Is(err, store.ErrWriteFailed) || s.WriteErrors() != 1 {
		t.Errorf("a refused write: %v; %d counted", err, s.WriteErrors())
	}
	if _, err := s.CreateApp(admin, "Bad\x1b", scopes.Full()); err == nil || s.WriteErrors() != 1 {
		t.Errorf("a refused name counted as a write error: %v, %d", err, s.WriteErrors())
	}
}
