package store

import (
	"errors"
	"os"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store/storetest"
)

// TestWriteErrorsAreCounted: a write the disk refuses is counted; a change
// the store itself refuses (a bad name) is not a write error.
func TestWriteErrorsAreCounted(t *testing.T) {
	s := newTestStore(t)
	restore := storetest.FailWrites(t, s.Path(), "/dev/full", os.O_WRONLY)
	_, err := s.CreateApp(admin, "Other", scopes.Full())
	restore()
	if !errors.Is(err, ErrWriteFailed) || s.WriteErrors() != 1 {
		t.Errorf("a refused write: %v; %d counted", err, s.WriteErrors())
	}
	if _, err := s.CreateApp(admin, "Bad\x1b", scopes.Full()); err == nil || s.WriteErrors() != 1 {
		t.Errorf("a refused name counted as a write error: %v, %d", err, s.WriteErrors())
	}
}
