package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"apiscopes/scopes"
)

// TestConcurrentAdmins runs 20 admins making 500 mixed changes and reads
// each through one store, as sessions of `serve` do: they race for the same
// names, delete what others are editing, verify keys others may have just
// deleted. Every outcome must be a success or the refusal the race
// explains; afterwards the file passes Check, the audit trail holds exactly
// one event per successful change, and every key verifies or not exactly as
// the final state says. Run it with -race.
func TestConcurrentAdmins(t *testing.T) {
	const (
		admins = 20
		ops    = 500
	)
	s := newTestStore(t)
	var writes atomic.Int64
	var mu sync.Mutex
	texts := map[string]uint64{} // every key created: text → app

	var wg sync.WaitGroup
	for w := range admins {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			actor := Actor{Name: fmt.Sprintf("admin %d", w), Role: Admin, Origin: "test"}
			var mine []string // texts of keys this admin created
			fail := func(op string, err error) {
				t.Errorf("admin %d, %s: unexpected %v", w, op, err)
			}
			// pick returns a random app from a list read now and then: it
			// may well have been deleted by the time it is used.
			var seen []App
			pick := func() (App, bool) {
				if len(seen) == 0 || rng.IntN(10) == 0 {
					var err error
					if seen, err = s.Apps(); err != nil {
						fail("Apps", err)
					}
				}
				if len(seen) == 0 {
					return App{}, false
				}
				return seen[rng.IntN(len(seen))], true
			}
			for i := range ops {
				switch op := rng.IntN(20); {
				case op < 2: // create an app, sometimes under a name others race for
					name := fmt.Sprintf("app %d-%d", w, i)
					if rng.IntN(3) == 0 {
						name = fmt.Sprintf("Shared %d", rng.IntN(5))
					}
					_, err := s.CreateApp(actor, name, randomSet(rng, 0))
					switch {
					case err == nil:
						writes.Add(1)
					case !errors.Is(err, ErrNameTaken):
						fail("CreateApp", err)
					}
				case op < 6: // create a key
					app, ok := pick()
					if !ok {
						continue
					}
					text, _, err := s.CreateKey(actor, app.ID, fmt.Sprintf("key %d-%d", w, i))
					switch {
					case err == nil:
						writes.Add(1)
						mine = append(mine, text)
						mu.Lock()
						texts[text] = app.ID
						mu.Unlock()
					case !errors.Is(err, ErrNotFound):
						fail("CreateKey", err)
					}
				case op < 8: // delete a key
					app, ok := pick()
					if !ok {
						continue
					}
					keys, err := s.Keys(app.ID)
					if err != nil && !errors.Is(err, ErrNotFound) {
						fail("Keys", err)
					}
					if len(keys) == 0 {
						continue
					}
					switch err := s.DeleteKey(actor, keys[rng.IntN(len(keys))].ID); {
					case err == nil:
						writes.Add(1)
					case !errors.Is(err, ErrNotFound):
						fail("DeleteKey", err)
					}
				case op < 10: // delete an app and its keys
					app, ok := pick()
					if !ok {
						continue
					}
					switch err := s.DeleteApp(actor, app.ID); {
					case err == nil:
						writes.Add(1)
					case !errors.Is(err, ErrNotFound):
						fail("DeleteApp", err)
					}
				case op < 12: // rename and re-scope: always a change, so always an event
					app, ok := pick()
					if !ok {
						continue
					}
					_, err := s.UpdateApp(actor, app.ID, fmt.Sprintf("edited %d-%d", w, i), randomSet(rng, 0))
					switch {
					case err == nil:
						writes.Add(1)
					case !errors.Is(err, ErrNotFound):
						fail("UpdateApp", err)
					}
				case op < 15: // verify one of my keys: allowed, not granted, or deleted by now
					if len(mine) == 0 {
						continue
					}
					d, err := s.Verify(mine[rng.IntN(len(mine))], scopes.All()[rng.IntN(10)].ID)
					if err != nil {
						fail("Verify", err)
					}
					switch d.Reason {
					case Allowed, ScopeNotGranted, UnknownKey:
					default:
						t.Errorf("admin %d: Verify of a key it created = %v", w, d)
					}
				case op < 16: // a viewer in the crowd is refused every change
					_, err := s.CreateApp(Actor{Name: "viewer", Role: Viewer}, "never", scopes.Full())
					if !errors.Is(err, ErrPermission) {
						t.Errorf("viewer CreateApp = %v", err)
					}
				case op < 18:
					if app, ok := pick(); ok {
						if _, err := s.Keys(app.ID); err != nil && !errors.Is(err, ErrNotFound) {
							fail("Keys", err)
						}
					}
				default: // the whole trail is long: read it now and then
					if rng.IntN(10) > 0 {
						continue
					}
					if _, err := s.Audit(); err != nil {
						fail("Audit", err)
					}
				}
			}
		})
	}
	wg.Wait()

	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	events, err := s.Audit()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(events)) != writes.Load() {
		t.Errorf("the audit trail has %d events for %d successful changes", len(events), writes.Load())
	}
	if writes.Load() < admins*ops/4 {
		t.Errorf("only %d changes succeeded: the test no longer exercises writes", writes.Load())
	}

	live := map[uint64]bool{}
	apps, _ := s.Apps()
	for _, a := range apps {
		keys, _ := s.Keys(a.ID)
		for _, k := range keys {
			live[k.ID] = true
		}
	}
	for text, appID := range texts {
		d, err := s.Verify(text, scopes.WorkflowDeploy)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Reason == UnknownKey:
		case !live[d.Key.ID] || d.App.ID != appID:
			t.Errorf("key %d of app %d verifies for app %d, but is not among the keys", d.Key.ID, appID, d.App.ID)
		case d.Allowed != d.App.Scopes.Allows(scopes.WorkflowDeploy):
			t.Errorf("key %d: %v, but its app has %v", d.Key.ID, d, d.App.Scopes)
		}
	}
	t.Logf("%d successful changes, %d apps and %d keys left", writes.Load(), len(apps), len(live))
}
