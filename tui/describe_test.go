package tui

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"apiscopes/store"
)

// commitFailure stands in for an engine's refused or unconfirmed commit,
// as the etcd engine's CommitError is one.
type commitFailure struct{ unknown bool }

func (c commitFailure) Error() string  { return "commit failed" }
func (c commitFailure) Reason() string { return "the cluster has no leader" }
func (c commitFailure) Remedy() string { return "Wait for the cluster to elect one, then try again." }
func (c commitFailure) Is(target error) bool {
	return target == store.ErrWriteFailed || c.unknown && target == store.ErrOutcomeUnknown
}

// TestWriteFailuresReadAlike: a change the file refused and one a cluster
// refused or did not confirm are told the same way: the cause in a few
// words and what to do, never the engine's raw error.
func TestWriteFailuresReadAlike(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&store.WriteError{Path: "/var/lib/apiscopes.db", Err: syscall.ENOSPC}, "Not saved: the disk is full. Free some space and try again."},
		{fmt.Errorf("save: %w", commitFailure{}), "Not saved: the cluster has no leader. Wait for the cluster to elect one, then try again."},
		{commitFailure{unknown: true}, "Perhaps not saved: the cluster has no leader. Wait for the cluster to elect one, then try again."},
	} {
		if got := describe(tt.err); got != tt.want {
			t.Errorf("describe(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if got := describe(errors.New("x")); got != "Something went wrong: x" {
		t.Errorf("an unknown error: %q", got)
	}
}
