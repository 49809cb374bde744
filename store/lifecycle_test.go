package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
)

// clockStore is a test store whose clock the test moves.
func clockStore(t *testing.T) (*Store, *testClock) {
	t.Helper()
	c := newTestClock()
	return newTestStore(t, WithClock(c.Now)), c
}

func requireReason(t *testing.T, s *Store, step, key string, scope scopes.ID, want Reason) Decision {
	t.Helper()
	d, err := s.Verify(key, scope)
	if err != nil || d.Reason != want || d.Allowed != (want == Allowed) {
		t.Fatalf("%s: Verify(%s) = %v, %v; want %s", step, scope, d, err, want)
	}
	return d
}

// Every change an admin can make flips the decision on the very next check.
func TestDecisionFlipsOnNextCheck(t *testing.T) {
	t.Run("re-scope", func(t *testing.T) {
		s, _ := clockStore(t)
		app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
		text, _ := mustCreateKey(t, s, app.ID, "ci")
		requireReason(t, s, "before", text, scopes.ModelDeploy, Allowed)
		if _, err := s.SetScopes(admin, app.ID, scopes.NewSet(scopes.ModelExport)); err != nil {
			t.Fatal(err)
		}
		requireReason(t, s, "after", text, scopes.ModelDeploy, ScopeNotGranted)
		requireReason(t, s, "after", text, scopes.ModelExport, Allowed)
	})
	t.Run("key deleted", func(t *testing.T) {
		s, _ := clockStore(t)
		app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
		text, key := mustCreateKey(t, s, app.ID, "ci")
		requireReason(t, s, "before", text, scopes.ModelDeploy, Allowed)
		if err := s.DeleteKey(admin, key.ID); err != nil {
			t.Fatal(err)
		}
		requireReason(t, s, "after", text, scopes.ModelDeploy, UnknownKey)
	})
	t.Run("app deleted", func(t *testing.T) {
		s, _ := clockStore(t)
		app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
		text, _ := mustCreateKey(t, s, app.ID, "ci")
		requireReason(t, s, "before", text, scopes.ModelDeploy, Allowed)
		if err := s.DeleteApp(admin, app.ID); err != nil {
			t.Fatal(err)
		}
		requireReason(t, s, "after", text, scopes.ModelDeploy, UnknownKey)
	})
	t.Run("expiry passed", func(t *testing.T) {
		s, c := clockStore(t)
		app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
		expires := c.peek().Add(time.Hour)
		text, key, err := s.CreateKeyWith(admin, app.ID, "ci", KeyOptions{ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		if !key.ExpiresAt.Equal(expires) {
			t.Fatalf("ExpiresAt = %v, want %v", key.ExpiresAt, expires)
		}
		requireReason(t, s, "before", text, scopes.ModelDeploy, Allowed)
		c.advance(time.Hour - 10*time.Second)
		requireReason(t, s, "just before", text, scopes.ModelDeploy, Allowed)
		c.advance(10 * time.Second)
		d := requireReason(t, s, "after", text, scopes.ModelDeploy, Expired)
		if d.Key.ID != key.ID || d.App.ID != app.ID {
			t.Errorf("an expired key's decision names key %d of app %d", d.Key.ID, d.App.ID)
		}
		if msg := d.String(); !strings.Contains(msg, "expired on") || strings.Contains(msg, text) {
			t.Errorf("String() = %q", msg)
		}
		// Expired keys stay listed, marked by their expiry, until deleted.
		keys, _ := s.Keys(app.ID)
		if len(keys) != 1 || !keys[0].Expired(c.peek()) {
			t.Errorf("Keys = %+v", keys)
		}
	})
	t.Run("rename keeps the decision", func(t *testing.T) {
		s, _ := clockStore(t)
		app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
		text, _ := mustCreateKey(t, s, app.ID, "ci")
		if _, err := s.RenameApp(admin, app.ID, "Credit"); err != nil {
			t.Fatal(err)
		}
		if d := requireReason(t, s, "after", text, scopes.ModelDeploy, Allowed); d.App.Name != "Credit" {
			t.Errorf("decision names app %q", d.App.Name)
		}
	})
}

func TestCreateKeyExpiry(t *testing.T) {
	s, c := clockStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if _, _, err := s.CreateKeyWith(admin, app.ID, "old", KeyOptions{ExpiresAt: c.peek().Add(-time.Hour)}); !errors.Is(err, ErrExpiryPast) {
		t.Errorf("past expiry: err = %v, want ErrExpiryPast", err)
	}
	_, key, err := s.CreateKeyWith(admin, app.ID, "month", KeyOptions{ExpiresAt: c.peek().Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, week, err := s.CreateKeyWith(admin, app.ID, "week", KeyOptions{ExpiresIn: 7 * 24 * time.Hour})
	if err != nil || !week.ExpiresAt.Equal(week.CreatedAt.Add(7*24*time.Hour)) {
		t.Errorf("ExpiresIn: %+v, %v", week, err)
	}
	ev, _ := s.Audit()
	if ev[1].Action != ActionKeyCreate || !ev[1].ExpiresAt.Equal(key.ExpiresAt) {
		t.Errorf("audit = %+v", ev[0])
	}
	keys, _ := s.Keys(app.ID)
	if len(keys) != 2 || !keys[0].ExpiresAt.Equal(key.ExpiresAt) {
		t.Errorf("Keys = %+v", keys)
	}
}

// Verify writes nothing; last-used times reach the file at most once a
// minute per key, and all of them at Close.
func TestLastUsedIsCoalesced(t *testing.T) {
	c := newTestClock()
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	s, err := Open(path, WithClock(c.Now), WithRandom(testRandom(4)), WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, key := mustCreateKey(t, s, app.ID, "ci")
	other, _ := mustCreateKey(t, s, app.ID, "other")

	lastUsed := func() time.Time {
		t.Helper()
		keys, err := s.Keys(app.ID)
		if err != nil {
			t.Fatal(err)
		}
		return keys[0].LastUsedAt
	}
	if !lastUsed().IsZero() {
		t.Fatal("a new key has a last use")
	}
	for range 100 {
		requireReason(t, s, "use", text, scopes.ModelDeploy, Allowed)
	}
	first := c.peek()
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("LastUsedAt = %v, want %v (the last check)", got, first)
	}
	if s.usageWrites != 0 {
		t.Fatalf("Verify wrote %d records", s.usageWrites)
	}
	if err := s.flushUsage(false); err != nil {
		t.Fatal(err)
	}
	if s.usageWrites != 1 {
		t.Fatalf("first flush wrote %d records, want 1", s.usageWrites)
	}
	// Within the minute: used again, not written again.
	c.advance(20 * time.Second)
	requireReason(t, s, "use", text, scopes.ModelDeploy, Allowed)
	s.flushUsage(false)
	if s.usageWrites != 1 {
		t.Fatalf("a flush within a minute wrote again (%d)", s.usageWrites)
	}
	// A refused check with a recognised key counts as use; an unknown key is nobody's.
	requireReason(t, s, "use", other, scopes.GuardrailDeploy, ScopeNotGranted)
	// A minute after the last write: written.
	c.advance(time.Minute)
	s.flushUsage(false)
	if s.usageWrites != 3 {
		t.Fatalf("after a minute: %d writes, want 3", s.usageWrites)
	}
	requireReason(t, s, "use", text, scopes.ModelDeploy, Allowed)
	last := c.peek()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, WithClock(c.Now), WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys, _ := s.Keys(app.ID)
	if !keys[0].LastUsedAt.Equal(last) || keys[0].ID != key.ID {
		t.Errorf("after Close and reopen LastUsedAt = %v, want %v", keys[0].LastUsedAt, last)
	}
	if keys[1].LastUsedAt.IsZero() {
		t.Error("the other key's use was lost")
	}
}

func TestRollKey(t *testing.T) {
	s, c := clockStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	oldText, old := mustCreateKey(t, s, app.ID, "ci")

	newText, rolled, err := s.RollKey(admin, old.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rolled.AppID != app.ID || rolled.Name != "ci (rolled)" || rolled.ID == old.ID || newText == oldText {
		t.Fatalf("new key = %+v", rolled)
	}
	rollAt := c.peek()
	keys, _ := s.Keys(app.ID)
	if len(keys) != 2 || keys[0].ID != old.ID || keys[0].Name != "ci" || keys[0].Hint != old.Hint ||
		keys[0].AppID != app.ID || keys[0].DeleteAt.IsZero() {
		t.Fatalf("after roll Keys = %+v", keys)
	}
	// Both work during the grace period.
	requireReason(t, s, "grace", oldText, scopes.ModelDeploy, Allowed)
	requireReason(t, s, "grace", newText, scopes.ModelDeploy, Allowed)
	if _, _, err := s.RollKey(admin, old.ID, time.Hour); !errors.Is(err, ErrKeyRolled) {
		t.Errorf("second roll of the same key: %v, want ErrKeyRolled", err)
	}
	ev, _ := s.Audit()
	if ev[0].Action != ActionKeyRoll || ev[0].KeyID != old.ID || ev[0].NewKeyID != rolled.ID ||
		!ev[0].DeleteAt.Equal(rollAt.Add(24*time.Hour)) || ev[0].Actor != admin.Name {
		t.Errorf("roll audit = %+v", ev[0])
	}

	// When the grace period ends the old key is refused at once, as if
	// deleted, and no longer listed, before any sweep.
	c.advance(24 * time.Hour)
	requireReason(t, s, "due", oldText, scopes.ModelDeploy, UnknownKey)
	requireReason(t, s, "due", newText, scopes.ModelDeploy, Allowed)
	if keys, _ := s.Keys(app.ID); len(keys) != 1 || keys[0].ID != rolled.ID {
		t.Errorf("due key still listed: %+v", keys)
	}
	// The sweep removes it from the file, audited.
	if err := s.sweep(); err != nil {
		t.Fatal(err)
	}
	got, _ := s.App(app.ID)
	if got.Keys != 1 {
		t.Errorf("app counts %d keys after the sweep", got.Keys)
	}
	ev, _ = s.Audit()
	if ev[0].Action != ActionKeyDelete || ev[0].KeyID != old.ID || !ev[0].Scheduled || ev[0].Actor != admin.Name {
		t.Errorf("sweep audit = %+v", ev[0])
	}
	// Nothing left to do: a second sweep writes nothing.
	n := len(ev)
	s.sweep()
	if ev, _ = s.Audit(); len(ev) != n {
		t.Error("a second sweep recorded something")
	}
}

func TestRollKeyNow(t *testing.T) {
	s, c := clockStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	expires := c.peek().Add(90 * 24 * time.Hour)
	oldText, old, err := s.CreateKeyWith(admin, app.ID, "ci", KeyOptions{ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	c.advance(10 * 24 * time.Hour)
	newText, rolled, err := s.RollKey(admin, old.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Gone at once; the new key takes its name and a fresh lifetime of the same length.
	if rolled.Name != "ci" || !rolled.ExpiresAt.Equal(rolled.CreatedAt.Add(old.ExpiresAt.Sub(old.CreatedAt))) {
		t.Errorf("new key = %+v", rolled)
	}
	requireReason(t, s, "now", oldText, scopes.ModelDeploy, UnknownKey)
	requireReason(t, s, "now", newText, scopes.ModelDeploy, Allowed)
	if got, _ := s.App(app.ID); got.Keys != 1 {
		t.Errorf("app counts %d keys", got.Keys)
	}
	for _, g := range []time.Duration{-time.Second, MaxGrace + time.Second} {
		if _, _, err := s.RollKey(admin, rolled.ID, g); !errors.Is(err, ErrGrace) {
			t.Errorf("grace %v: %v, want ErrGrace", g, err)
		}
	}
	if _, _, err := s.RollKey(viewer, rolled.ID, time.Hour); !errors.Is(err, ErrPermission) {
		t.Errorf("viewer roll: %v", err)
	}
}

// A deletion that fell due while no process held the file happens at Open.
func TestRolledKeyDeletedAtOpen(t *testing.T) {
	c := newTestClock()
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	s, err := Open(path, WithClock(c.Now), WithRandom(testRandom(5)), WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	_, old := mustCreateKey(t, s, app.ID, "ci")
	if _, _, err := s.RollKey(admin, old.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.advance(2 * time.Hour)
	s, err = Open(path, WithClock(c.Now), WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := s.App(app.ID); got.Keys != 1 {
		t.Errorf("after reopen the app counts %d keys", got.Keys)
	}
	ev, _ := s.Audit()
	if ev[0].Action != ActionKeyDelete || ev[0].KeyID != old.ID {
		t.Errorf("audit = %+v", ev[0])
	}
}

// The background loop does the sweep on its own.
func TestMaintenanceLoopSweeps(t *testing.T) {
	c := newTestClock()
	s := newTestStore(t, WithClock(c.Now), WithMaintenance(5*time.Millisecond))
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	_, old := mustCreateKey(t, s, app.ID, "ci")
	if _, _, err := s.RollKey(admin, old.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := s.App(app.ID); got.Keys == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the maintenance loop never deleted the rolled key")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRolledNames(t *testing.T) {
	s, _ := clockStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	long := strings.Repeat("k", MaxNameLen)
	_, k1 := mustCreateKey(t, s, app.ID, long)
	_, r1, err := s.RollKey(admin, k1.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Name != strings.Repeat("k", MaxNameLen-9)+" (rolled)" {
		t.Errorf("rolled name %q", r1.Name)
	}
	_, k2 := mustCreateKey(t, s, app.ID, "ci")
	mustCreateKey(t, s, app.ID, "ci (rolled)")
	if _, r2, _ := s.RollKey(admin, k2.ID, time.Hour); r2.Name != "ci (rolled 2)" {
		t.Errorf("rolled name %q, want ci (rolled 2)", r2.Name)
	}
}

// Verify runs beside writers, flushes and sweeps without a race, and never
// answers from a state the file did not have: a key is allowed only while
// it exists.
func TestVerifyConcurrentWithWrites(t *testing.T) {
	s := newTestStore(t, WithMaintenance(time.Millisecond))
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	stable, _ := mustCreateKey(t, s, app.ID, "stable")
	done := make(chan struct{})
	errs := make(chan string, 4)
	for range 2 {
		go func() {
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				if d, err := s.Verify(stable, scopes.ModelDeploy); err != nil || !d.Allowed {
					errs <- d.String()
					return
				}
			}
		}()
	}
	for i := range 30 {
		text, k := mustCreateKey(t, s, app.ID, "k"+strings.Repeat("x", i))
		if d, _ := s.Verify(text, scopes.ModelDeploy); !d.Allowed {
			t.Errorf("new key refused: %v", d)
		}
		if i%2 == 0 {
			if _, _, err := s.RollKey(admin, k.ID, 0); err != nil {
				t.Fatal(err)
			}
		} else if err := s.DeleteKey(admin, k.ID); err != nil {
			t.Fatal(err)
		}
		if d, _ := s.Verify(text, scopes.ModelDeploy); d.Reason != UnknownKey {
			t.Errorf("removed key: %v", d)
		}
	}
	close(done)
	for range 2 {
		if msg := <-errs; msg != "" {
			t.Errorf("a concurrent check failed: %s", msg)
		}
	}
}
