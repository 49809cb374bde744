package storetest

import (
	"fmt"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

var feedCases = []testCase{
	{"UpdatesCarryTheEventAndTheApp", testFeedUpdates},
	{"SlowSubscriberGetsResync", testFeedSlowSubscriber},
	{"ClosedSubscriptions", testFeedClose},
}

func receive(t *testing.T, sub *store.Subscription) store.Update {
	t.Helper()
	select {
	case up, ok := <-sub.C:
		if !ok {
			t.Fatal("the subscription closed")
		}
		return up
	case <-time.After(10 * time.Second):
		t.Fatal("no update after 10s")
	}
	panic("unreachable")
}

func nothingPending(t *testing.T, sub *store.Subscription, after string) {
	t.Helper()
	select {
	case up := <-sub.C:
		t.Errorf("after %s: an update %+v", after, up)
	default:
	}
}

// Every committed change reaches every subscriber as its audit event and
// the app as the change left it, numbered 1, 2, … with no gap.
func testFeedUpdates(t *testing.T, e *env) {
	sub := e.st.Subscribe()
	defer sub.Close()
	var seq uint64
	expect := func(action store.Action, check func(store.Update) bool) store.Update {
		t.Helper()
		up := receive(t, sub)
		seq++
		if up.Resync || up.Seq != seq || up.Event.Action != action || up.Event.Seq == 0 || !check(up) {
			t.Fatalf("update %d = %+v (app %+v); want %s", seq, up, up.App, action)
		}
		return up
	}
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	expect(store.ActionAppCreate, func(up store.Update) bool { return up.App != nil && appsEqual(*up.App, app) })
	_, key := e.key(t.Context(), app.ID, "ci")
	up := expect(store.ActionKeyCreate, func(up store.Update) bool {
		return up.App != nil && up.App.Keys == 1 && up.App.Revision == 2
	})
	if up.Event.KeyID != key.ID || up.Event.KeyHint != key.Hint {
		t.Errorf("key.create update names key %d %q", up.Event.KeyID, up.Event.KeyHint)
	}
	cur, _ := e.st.App(t.Context(), app.ID)
	saved, err := e.st.SaveApp(t.Context(), Admin, cur, "Risk EU", scopes.Full())
	if err != nil {
		t.Fatal(err)
	}
	expect(store.ActionAppUpdate, func(up store.Update) bool {
		return up.App != nil && appsEqual(*up.App, saved) && up.Event.NameBefore == "Risk"
	})
	_, rolled, _, err := e.st.RollKey(t.Context(), Admin, key.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expect(store.ActionKeyRoll, func(up store.Update) bool { return up.App.Keys == 2 && up.Event.NewKeyID == rolled.ID })

	// Refused changes tell nobody anything.
	e.st.CreateApp(t.Context(), Viewer, "x", scopes.Full())
	e.st.SaveApp(t.Context(), Admin, cur, "Stale", scopes.Full())
	e.st.SaveApp(t.Context(), Admin, saved, "Risk EU", scopes.Full())
	nothingPending(t, sub, "refused changes")

	// A load tells of each app; a sweep is a change like any other.
	if _, err := e.st.CreateApps(t.Context(), Admin, []store.AppSpec{{Name: "A", Scopes: scopes.Full()}, {Name: "B", Scopes: scopes.Full()}}); err != nil {
		t.Fatal(err)
	}
	expect(store.ActionAppCreate, func(up store.Update) bool { return up.App.Name == "A" })
	expect(store.ActionAppCreate, func(up store.Update) bool { return up.App.Name == "B" })
	e.clock.Advance(time.Hour)
	if err := e.st.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	expect(store.ActionKeyDelete, func(up store.Update) bool {
		return up.Event.Scheduled && up.Event.KeyID == key.ID && up.App.Keys == 1
	})
	if err := e.st.DeleteApp(t.Context(), Admin, app.ID); err != nil {
		t.Fatal(err)
	}
	expect(store.ActionAppDelete, func(up store.Update) bool { return up.App == nil && up.Event.KeysGone == 1 })
	// A sweep of what an app's deletion left changes nothing anyone sees.
	e.st.Maintain(t.Context())
	nothingPending(t, sub, "a sweep of digest entries")
	// The events are the audit trail's.
	events, _ := e.st.Audit(t.Context())
	if uint64(len(events)) != seq {
		t.Errorf("%d updates for %d audit events", seq, len(events))
	}
}

// A subscriber that does not read falls behind without holding up any
// writer: its unread updates are dropped for one Resync, and it then goes
// on with the updates after it.
func testFeedSlowSubscriber(t *testing.T, e *env) {
	slow := e.st.Subscribe()
	defer slow.Close()
	done := make(chan error, 1)
	go func() {
		var specs []store.AppSpec
		for i := range 300 {
			specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %03d", i), Scopes: scopes.Full()})
		}
		_, err := e.st.CreateApps(t.Context(), Admin, specs)
		for i := 0; err == nil && i < 20; i++ {
			_, err = e.st.CreateApp(t.Context(), Admin, fmt.Sprintf("One %d", i), scopes.Full())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the writers are held up by a subscriber that does not read")
	}
	var got []store.Update
	for len(slow.C) > 0 {
		got = append(got, <-slow.C)
	}
	resyncs := 0
	var last uint64
	for i, up := range got {
		if up.Resync {
			resyncs++
		} else if i > 0 && up.Seq != last+1 {
			t.Errorf("update %d follows %d", up.Seq, last)
		}
		last = up.Seq
	}
	if resyncs == 0 || len(got) >= 320 {
		t.Fatalf("a subscriber that read nothing of 320 updates holds %d, %d of them Resync", len(got), resyncs)
	}
	if last != 320 {
		t.Errorf("the last update held is number %d, want 320", last)
	}
	// Having reloaded, it goes on from there.
	e.app(t.Context(), "After", scopes.Full())
	if up := receive(t, slow); up.Resync || up.Seq != 321 || up.App == nil || up.App.Name != "After" {
		t.Errorf("the next update = %+v", up)
	}
}

func testFeedClose(t *testing.T, e *env) {
	a, b := e.st.Subscribe(), e.st.Subscribe()
	a.Close()
	a.Close() // twice is harmless
	if _, ok := <-a.C; ok {
		t.Error("a closed subscription delivered")
	}
	e.app(t.Context(), "Risk", scopes.Full())
	if up := receive(t, b); up.Event.Action != store.ActionAppCreate {
		t.Errorf("the open subscription got %+v", up)
	}
	e.reopen() // closing the store ends every subscription
	select {
	case _, ok := <-b.C:
		if ok {
			t.Error("a subscription of a closed store delivered")
		}
	case <-time.After(10 * time.Second):
		t.Error("closing the store left a subscription open")
	}
	b.Close()
}
