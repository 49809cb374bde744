package store

import (
	"context"
	"errors"
	"testing"

	"apiscopes/scopes"
)

// A change whose caller has gone before its turn writes nothing and says
// so; one whose caller goes while it commits still finishes; a read ends
// with its context.
func TestContextEndsReadsAndUnstartedWrites(t *testing.T) {
	s := newTestStore(t)
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.CreateApp(gone, admin, "Never", scopes.Full()); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateApp with an ended context = %v, want context.Canceled", err)
	}
	if _, err := s.AppNamed(t.Context(), "Never"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the app of an unstarted change exists: %v", err)
	}
	if h, _ := s.Head(t.Context()); h.Seq != 0 {
		t.Fatalf("an unstarted change left event %d in the trail", h.Seq)
	}

	// The rule runs once the change has started: ending the context there
	// does not stop the commit.
	leaving, leave := context.WithCancel(t.Context())
	err := s.change(leaving, admin, func(tx *txn) error {
		leave()
		_, err := tx.createApp("Kept", scopes.Full())
		return err
	})
	if err != nil {
		t.Fatalf("a started change whose caller left: %v", err)
	}
	if _, err := s.AppNamed(t.Context(), "Kept"); err != nil {
		t.Fatalf("the started change was not kept: %v", err)
	}
}
