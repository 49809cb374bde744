package store

import (
	"fmt"
	"testing"
	"time"

	"apiscopes/scopes"
)

// requireIndexState fails unless s's index keeps the state hash of the
// head as it is: changes at the head then read nothing to find it.
func requireIndexState(t *testing.T, s *Store, step string) {
	t.Helper()
	head, err := s.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.ix.mu.Lock()
	st := s.ix.state
	s.ix.mu.Unlock()
	if !st.known || st.seq != head.Seq || st.sum != head.State {
		t.Fatalf("%s: the index keeps the state at event %d (%.12s, known %v); the head is event %d (%.12s)",
			step, st.seq, st.sum, st.known, head.Seq, head.State)
	}
}

// The index keeps the state hash from the stream: from this process's
// changes, another's, a range removal's checkpoint and a reopening.
func TestIndexFollowsTheStateHash(t *testing.T) {
	eng := NewMemory()
	a, err := New(eng, WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(eng, WithMaintenance(0)) // a second process on the same database
	if err != nil {
		t.Fatal(err)
	}
	app := mustCreateApp(t, a, "Risk", scopes.NewSet(scopes.ModelDeploy))
	requireIndexState(t, a, "its own change")
	requireIndexState(t, b, "another's change")
	mustCreateKey(t, b, app.ID, "ci")
	requireIndexState(t, a, "another's key")
	other := mustCreateApp(t, a, "Other", scopes.Full())
	mustCreateKey(t, a, other.ID, "k")
	if err := b.DeleteApp(t.Context(), admin, other.ID); err != nil {
		t.Fatal(err)
	}
	requireIndexState(t, a, "an app removed with its keys")
	if err := a.RecordSession(t.Context(), ActionSessionLogin, SessionInfo{User: "Ada"}); err != nil {
		t.Fatal(err)
	}
	requireIndexState(t, b, "an event that changed no record")
	b.unfollow()
	b.clock.stop()
	if err := a.CheckRecords(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.unfollow()
	a.clock.stop()
	c, err := New(eng, WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	requireIndexState(t, c, "reopened")
}

// Past checkpointEvery events a checkpoint of the state hash is written
// with the event, and a store opening replays only the events after it.
func TestStateCheckpoints(t *testing.T) {
	eng := NewMemory()
	s, err := New(eng, WithMaintenance(0), WithClock(func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }))
	if err != nil {
		t.Fatal(err)
	}
	var specs []AppSpec
	for i := range checkpointEvery + 40 {
		specs = append(specs, AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.Full()})
	}
	if _, err := s.CreateApps(t.Context(), admin, specs); err != nil {
		t.Fatal(err)
	}
	var cp []byte
	s.eng.Read(t.Context(), func(snap Snapshot) (err error) { cp, err = snap.Get(TableMeta, metaState); return err })
	if _, seq, err := parseCheckpoint(cp); err != nil || seq != checkpointEvery {
		t.Fatalf("the checkpoint is at event %d (%v), want %d", seq, err, checkpointEvery)
	}
	requireIndexState(t, s, "past a checkpoint")
	if err := s.CheckRecords(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.unfollow()
	s.clock.stop()
	s, err = New(eng, WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	requireIndexState(t, s, "reopened after a checkpoint")
	mustCreateKey(t, s, 1, "after")
	requireIndexState(t, s, "a change after reopening")
}
