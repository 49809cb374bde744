package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

var keyCases = []testCase{
	{"Create", testCreateKey},
	{"SameRandomSameKey", testKeyDeterministic},
	{"OldestFirst", testKeysOldestFirst},
	{"Names", testKeyNames},
	{"Delete", testDeleteKey},
	{"RandomSourceFails", testKeyRandomFailure},
	{"RandomSourceRepeats", testKeyRandomRepeats},
	{"ConcurrentUseOfTheRandomSource", testKeysConcurrent},
}

func testCreateKey(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	if keys, err := e.st.Keys(t.Context(), app.ID); err != nil || len(keys) != 0 {
		t.Errorf("Keys of an app without keys = %v, %v", keys, err)
	}
	at := e.next()
	text, key, err := e.st.CreateKey(t.Context(), Admin, app.ID, "  CI pipeline ")
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != store.KeyLen || store.KeyLen != 53 || !strings.HasPrefix(text, store.KeyPrefix) {
		t.Errorf("key text %q: want 53 characters starting aps_", text)
	}
	if err := store.CheckKey(text); err != nil {
		t.Errorf("CheckKey of a new key: %v", err)
	}
	if WithChecksum(text[:store.KeyLen-6]) != text {
		t.Errorf("key %q does not end in the checksum of its text", text)
	}
	want := store.Key{ID: 1, AppID: app.ID, Name: "CI pipeline", Hint: "aps_…" + text[len(text)-4:],
		CreatedBy: "Ada", CreatedAt: at}
	if !keysEqual(key, want) {
		t.Errorf("CreateKey key = %+v\nwant %+v", key, want)
	}
	keys, err := e.st.Keys(t.Context(), app.ID)
	if err != nil || len(keys) != 1 || !keysEqual(keys[0], want) {
		t.Errorf("Keys = %+v, %v", keys, err)
	}
	got, _ := e.st.App(t.Context(), app.ID)
	if got.Keys != 1 || got.Revision != 2 {
		t.Errorf("after CreateKey: app Keys = %d, Revision = %d; want 1, 2", got.Keys, got.Revision)
	}
}

// The store draws a key's 256 bits from its random source and nothing else:
// the same source gives the same key, and the key is the source's bytes in
// the documented format.
func testKeyDeterministic(t *testing.T, e *env) {
	rec := NewRecorder(Random(7))
	e.reopen(store.WithRandom(rec))
	app := e.app(t.Context(), "Risk", scopes.Full())
	text, _ := e.key(t.Context(), app.ID, "ci")
	if drawn := rec.Keys(); len(drawn) != 1 || drawn[0] != text {
		t.Errorf("the store made %q from its random source, which gave %q", text, drawn)
	}
	other := newEnv(t, e.h)
	other.reopen(store.WithRandom(Random(7)))
	app2 := other.app(t.Context(), "Other", scopes.Full())
	if again, _ := other.key(t.Context(), app2.ID, "cd"); again != text {
		t.Error("the same random source gave another key")
	}
}

func testKeysOldestFirst(t *testing.T, e *env) {
	a := e.app(t.Context(), "A", scopes.Full())
	b := e.app(t.Context(), "B", scopes.Full())
	// Interleave the apps so key ids of one app are not contiguous.
	for _, n := range []string{"one", "two", "three"} {
		e.key(t.Context(), a.ID, n)
		e.key(t.Context(), b.ID, n)
	}
	for _, app := range []store.App{a, b} {
		keys, err := e.st.Keys(t.Context(), app.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, k := range keys {
			got = append(got, k.Name)
			if k.AppID != app.ID {
				t.Errorf("Keys(%d) holds key %d of app %d", app.ID, k.ID, k.AppID)
			}
			if i > 0 && !keys[i-1].CreatedAt.Before(k.CreatedAt) {
				t.Errorf("Keys(%d) not oldest first", app.ID)
			}
		}
		if strings.Join(got, ",") != "one,two,three" {
			t.Errorf("Keys(%d) names = %v", app.ID, got)
		}
	}
}

func testKeyNames(t *testing.T, e *env) {
	a := e.app(t.Context(), "A", scopes.Full())
	b := e.app(t.Context(), "B", scopes.Full())
	e.key(t.Context(), a.ID, "Deploy bot")
	e.key(t.Context(), b.ID, "Deploy bot") // the same name in another app is fine
	bad := []struct {
		name string
		err  error
	}{
		{"Deploy bot", store.ErrKeyNameTaken},
		{"DEPLOY BOT", store.ErrNameTaken},
		{" deploy bot ", store.ErrNameTaken},
		{"", store.ErrNameEmpty},
		{"   ", store.ErrNameEmpty},
		{strings.Repeat("k", 65), store.ErrNameTooLong},
		{"bot\x1b]52;c;aGk=\x07", store.ErrNameInvalid},
		{"bot\u202E", store.ErrNameInvalid},
	}
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, tt := range bad {
		if _, _, err := e.st.CreateKey(t.Context(), Admin, a.ID, tt.name); !errors.Is(err, tt.err) {
			t.Errorf("CreateKey(%q) = %v, want %v", tt.name, err, tt.err)
		}
	}
	e.unchanged(t, "refused key names", before, batches)
	// Once deleted, a key's name can be used again.
	keys, _ := e.st.Keys(t.Context(), a.ID)
	if err := e.st.DeleteKey(t.Context(), Admin, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.CreateKey(t.Context(), Admin, a.ID, "deploy BOT"); err != nil {
		t.Errorf("reusing a deleted key's name: %v", err)
	}
}

func testDeleteKey(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.Full())
	text1, k1 := e.key(t.Context(), app.ID, "one")
	text2, k2 := e.key(t.Context(), app.ID, "two")
	if got, _ := e.st.App(t.Context(), app.ID); got.Keys != 2 || got.Revision != 3 {
		t.Fatalf("app Keys = %d, Revision = %d; want 2, 3", got.Keys, got.Revision)
	}
	if err := e.st.DeleteKey(t.Context(), Admin, k1.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.App(t.Context(), app.ID)
	if got.Keys != 1 || got.Revision != 4 {
		t.Errorf("after DeleteKey: app Keys = %d, Revision = %d; want 1, 4", got.Keys, got.Revision)
	}
	keys, _ := e.st.Keys(t.Context(), app.ID)
	if len(keys) != 1 || !keysEqual(keys[0], k2) {
		t.Errorf("Keys after DeleteKey = %+v", keys)
	}
	requireReason(t, e.st, "deleted key", text1, scopes.ModelDeploy, store.UnknownKey)
	requireReason(t, e.st, "the other key", text2, scopes.ModelDeploy, store.Allowed)
	if err := e.st.DeleteKey(t.Context(), Admin, k1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting a key twice: %v, want ErrNotFound", err)
	}
	if got, _ := e.st.App(t.Context(), app.ID); got.Keys != 1 {
		t.Errorf("a failed DeleteKey changed Keys to %d", got.Keys)
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

func testKeyRandomFailure(t *testing.T, e *env) {
	e.reopen(store.WithRandom(strings.NewReader("short")))
	app := e.app(t.Context(), "Risk", scopes.Full())
	before, batches := readState(t, e.st), e.eng.Batches()
	if text, _, err := e.st.CreateKey(t.Context(), Admin, app.ID, "ci"); err == nil || text != "" {
		t.Errorf("CreateKey with a failing random source = %q, %v; want an error", text, err)
	}
	if _, err := e.st.CreateApps(t.Context(), Admin, []store.AppSpec{{Name: "Bulk", Scopes: scopes.Full(), Keys: []string{"k"}}}); err == nil {
		t.Error("CreateApps with a failing random source succeeded")
	}
	e.unchanged(t, "failed key generation", before, batches)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A random source that repeats itself must not make two keys one.
func testKeyRandomRepeats(t *testing.T, e *env) {
	e.reopen(store.WithRandom(zeroReader{}))
	app := e.app(t.Context(), "Risk", scopes.Full())
	e.key(t.Context(), app.ID, "first")
	other := e.app(t.Context(), "Other", scopes.Full())
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, id := range []uint64{app.ID, other.ID} {
		_, _, err := e.st.CreateKey(t.Context(), Admin, id, "second")
		if err == nil {
			t.Fatal("CreateKey accepted a key equal to an existing one")
		}
		if !strings.Contains(err.Error(), "random source repeated") {
			t.Errorf("CreateKey of a repeated key: %v; want it to name the random source", err)
		}
	}
	e.unchanged(t, "a repeated key", before, batches)

	// Two keys of one change, equal to each other but to no stored key.
	e.reopen(store.WithRandom(sameReader{7}))
	before, batches = readState(t, e.st), e.eng.Batches()
	if _, err := e.st.CreateApps(t.Context(), Admin, []store.AppSpec{{Name: "Bulk", Scopes: scopes.Full(), Keys: []string{"a", "b"}}}); err == nil {
		t.Error("CreateApps made two keys of one text")
	}
	e.unchanged(t, "two equal keys in one change", before, batches)
}

// sameReader hands out the same byte again and again.
type sameReader struct{ b byte }

func (r sameReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	return len(p), nil
}

// overlapReader counts reads that start while another is under way.
type overlapReader struct {
	mu       sync.Mutex
	r        io.Reader
	busy     atomic.Int32
	overlaps atomic.Int32
}

func (o *overlapReader) Read(p []byte) (int, error) {
	if o.busy.Add(1) != 1 {
		o.overlaps.Add(1)
	}
	defer o.busy.Add(-1)
	time.Sleep(time.Millisecond) // widen the window a concurrent read would hit
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.r.Read(p)
}

// The store is safe for concurrent use, and so is its use of a random
// source that is not (a seeded generator).
func testKeysConcurrent(t *testing.T, e *env) {
	random := &overlapReader{r: Random(5)}
	e.reopen(store.WithRandom(random))
	app := e.app(t.Context(), "Risk", scopes.Full())
	const workers, each = 4, 5
	texts := make(chan string, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				text, _, err := e.st.CreateKey(t.Context(), Admin, app.ID, fmt.Sprintf("key %d.%d", w, i))
				if err != nil {
					t.Error(err)
				}
				texts <- text
			}
		})
	}
	wg.Wait()
	close(texts)
	seen := map[string]bool{}
	for text := range texts {
		if seen[text] {
			t.Errorf("a key was issued twice")
		}
		seen[text] = true
		requireReason(t, e.st, "a key made concurrently", text, scopes.ModelDeploy, store.Allowed)
	}
	if n := random.overlaps.Load(); n != 0 {
		t.Errorf("%d reads of the random source overlapped another read", n)
	}
	if got, _ := e.st.App(t.Context(), app.ID); got.Keys != workers*each {
		t.Errorf("app Keys = %d, want %d", got.Keys, workers*each)
	}
}

var lifecycleCases = []testCase{
	{"DecisionFlipsOnNextCheck", testDecisionFlips},
	{"Expiry", testKeyExpiry},
	{"LastUsedIsCoalesced", testLastUsed},
	{"RollWithGrace", testRollKey},
	{"RollNow", testRollKeyNow},
	{"RolledNames", testRolledNames},
	{"SweepAtOpen", testRolledKeyDeletedAtOpen},
	{"MaintenanceLoopSweeps", testMaintenanceLoop},
	{"VerifyBesideWriters", testVerifyBesideWrites},
}

// Every change an admin can make flips the decision on the very next check.
func testDecisionFlips(t *testing.T, e *env) {
	st := e.st
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	t.Run("re-scope", func(t *testing.T) {
		text, _ := e.key(t.Context(), app.ID, "scoped")
		requireReason(t, st, "before", text, scopes.ModelDeploy, store.Allowed)
		cur, _ := st.App(t.Context(), app.ID)
		if _, err := st.SaveApp(t.Context(), Admin, cur, cur.Name, scopes.NewSet(scopes.ModelExport)); err != nil {
			t.Fatal(err)
		}
		requireReason(t, st, "after", text, scopes.ModelDeploy, store.ScopeNotGranted)
		requireReason(t, st, "after", text, scopes.ModelExport, store.Allowed)
		cur, _ = st.App(t.Context(), app.ID)
		if _, err := st.SaveApp(t.Context(), Admin, cur, cur.Name, scopes.NewSet(scopes.ModelDeploy)); err != nil {
			t.Fatal(err)
		}
		requireReason(t, st, "back", text, scopes.ModelDeploy, store.Allowed)
	})
	t.Run("rename keeps the decision", func(t *testing.T) {
		text, _ := e.key(t.Context(), app.ID, "renamed")
		cur, _ := st.App(t.Context(), app.ID)
		if _, err := st.SaveApp(t.Context(), Admin, cur, "Credit", cur.Scopes); err != nil {
			t.Fatal(err)
		}
		if d := requireReason(t, st, "after", text, scopes.ModelDeploy, store.Allowed); d.App().Name != "Credit" {
			t.Errorf("the decision names app %q", d.App().Name)
		}
	})
	t.Run("key deleted", func(t *testing.T) {
		text, key := e.key(t.Context(), app.ID, "deleted")
		requireReason(t, st, "before", text, scopes.ModelDeploy, store.Allowed)
		if err := st.DeleteKey(t.Context(), Admin, key.ID); err != nil {
			t.Fatal(err)
		}
		requireReason(t, st, "after", text, scopes.ModelDeploy, store.UnknownKey)
	})
	t.Run("key rolled now", func(t *testing.T) {
		text, key := e.key(t.Context(), app.ID, "rolled")
		newText, _, _, err := st.RollKey(t.Context(), Admin, key.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		requireReason(t, st, "old", text, scopes.ModelDeploy, store.UnknownKey)
		requireReason(t, st, "new", newText, scopes.ModelDeploy, store.Allowed)
	})
	t.Run("expiry passed", func(t *testing.T) {
		expires := e.clock.Peek().Add(time.Hour)
		text, key, err := st.CreateKeyWith(t.Context(), Admin, app.ID, "expiring", store.KeyOptions{ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		if !key.ExpiresAt.Equal(expires) {
			t.Fatalf("ExpiresAt = %v, want %v", key.ExpiresAt, expires)
		}
		requireReason(t, st, "before", text, scopes.ModelDeploy, store.Allowed)
		e.clock.Advance(time.Hour - 10*time.Second)
		requireReason(t, st, "just before", text, scopes.ModelDeploy, store.Allowed)
		e.clock.Advance(10 * time.Second)
		d := requireReason(t, st, "after", text, scopes.ModelDeploy, store.Expired)
		if d.Key().ID != key.ID || d.App().ID != app.ID {
			t.Errorf("an expired key's decision names key %d of app %d", d.Key().ID, d.App().ID)
		}
		if msg := d.String(); !strings.Contains(msg, "expired on") || strings.Contains(msg, text) {
			t.Errorf("String() = %q", msg)
		}
		// Expired keys stay listed, marked by their expiry, until deleted.
		keys, _ := st.Keys(t.Context(), app.ID)
		found := false
		for _, k := range keys {
			if k.ID == key.ID {
				found = k.Expired(e.clock.Peek()) && k.State(e.clock.Peek()) == store.KeyExpired
			}
		}
		if !found {
			t.Errorf("the expired key is not listed as expired: %+v", keys)
		}
	})
	t.Run("app deleted", func(t *testing.T) {
		text, _ := e.key(t.Context(), app.ID, "last")
		if err := st.DeleteApp(t.Context(), Admin, app.ID); err != nil {
			t.Fatal(err)
		}
		requireReason(t, st, "after", text, scopes.ModelDeploy, store.UnknownKey)
	})
}

func testKeyExpiry(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, o := range []store.KeyOptions{{ExpiresAt: e.clock.Peek().Add(-time.Hour)}, {ExpiresAt: e.clock.Peek()}, {ExpiresIn: -time.Hour}} {
		if _, _, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "old", o); !errors.Is(err, store.ErrExpiryPast) {
			t.Errorf("expiry %+v: err = %v, want ErrExpiryPast", o, err)
		}
	}
	e.unchanged(t, "refused expiries", before, batches)
	zone := time.FixedZone("UTC-7", -7*3600)
	month := e.clock.Peek().Add(30 * 24 * time.Hour).In(zone)
	_, key, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "month", store.KeyOptions{ExpiresAt: month})
	if err != nil {
		t.Fatal(err)
	}
	if !key.ExpiresAt.Equal(month) || key.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt = %v, want %v in UTC", key.ExpiresAt, month)
	}
	_, week, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "week", store.KeyOptions{ExpiresIn: 7 * 24 * time.Hour})
	if err != nil || !week.ExpiresAt.Equal(week.CreatedAt.Add(7*24*time.Hour)) {
		t.Errorf("ExpiresIn: %+v, %v", week, err)
	}
	if week.State(week.CreatedAt) != store.KeyActive || week.State(week.ExpiresAt.Add(-time.Hour)) != store.KeyExpiring {
		t.Errorf("a week's key is %v at creation and %v an hour before its end", week.State(week.CreatedAt),
			week.State(week.ExpiresAt.Add(-time.Hour)))
	}
	ev, _ := e.st.Audit(t.Context())
	if ev[1].Action != store.ActionKeyCreate || !ev[1].ExpiresAt.Equal(key.ExpiresAt) {
		t.Errorf("audit of the month's key = %+v", ev[1])
	}
	keys, _ := e.st.Keys(t.Context(), app.ID)
	if len(keys) != 2 || !keys[0].ExpiresAt.Equal(key.ExpiresAt) {
		t.Errorf("Keys = %+v", keys)
	}
}

// Verify writes nothing; last-used times reach the database at most once a
// minute per key (on the store's own schedule, Maintain), and all of them
// at Close.
func testLastUsed(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, key := e.key(t.Context(), app.ID, "ci")
	other, _ := e.key(t.Context(), app.ID, "other")
	unused, _ := e.key(t.Context(), app.ID, "unused")
	_ = unused
	lastUsed := func(i int) time.Time {
		t.Helper()
		keys, err := e.st.Keys(t.Context(), app.ID)
		if err != nil {
			t.Fatal(err)
		}
		return keys[i].LastUsedAt
	}
	if !lastUsed(0).IsZero() {
		t.Fatal("a new key has a last use")
	}
	batches := e.eng.Batches()
	for range 100 {
		requireReason(t, e.st, "use", text, scopes.ModelDeploy, store.Allowed)
	}
	first := e.clock.Peek()
	if got := lastUsed(0); !got.Equal(first) {
		t.Errorf("LastUsedAt = %v, want %v (the last check)", got, first)
	}
	if n := e.eng.Batches() - batches; n != 0 {
		t.Fatalf("100 checks committed %d changes", n)
	}
	if err := e.st.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.eng.KeyUses(); n != 1 {
		t.Fatalf("the first flush wrote %d notes of use, want 1", n)
	}
	// Within the minute: used again, not written again.
	e.clock.Advance(20 * time.Second)
	requireReason(t, e.st, "use", text, scopes.ModelDeploy, store.Allowed)
	e.st.Maintain(t.Context())
	if n := e.eng.KeyUses(); n != 1 {
		t.Fatalf("a flush within a minute wrote again (%d)", n)
	}
	// A refused check of a recognised key counts as use; an unknown key is nobody's.
	requireReason(t, e.st, "use", other, scopes.GuardrailDeploy, store.ScopeNotGranted)
	requireReason(t, e.st, "unknown", KeyText(make([]byte, 32)), scopes.ModelDeploy, store.UnknownKey)
	// A minute after the last write: written.
	e.clock.Advance(time.Minute)
	e.st.Maintain(t.Context())
	if n := e.eng.KeyUses(); n != 3 {
		t.Fatalf("after a minute: %d notes of use, want 3", n)
	}
	requireReason(t, e.st, "use", text, scopes.ModelDeploy, store.Allowed)
	last := e.clock.Peek()
	e.reopen() // Close writes what is left
	if got := lastUsed(0); !got.Equal(last) {
		t.Errorf("after Close and reopen LastUsedAt = %v, want %v", got, last)
	}
	if lastUsed(1).IsZero() {
		t.Error("the other key's use was lost")
	}
	if !lastUsed(2).IsZero() {
		t.Error("an unused key has a last use")
	}
	// A key deleted before its use is written leaves no note behind.
	requireReason(t, e.st, "use", other, scopes.ModelDeploy, store.Allowed)
	keys, _ := e.st.Keys(t.Context(), app.ID)
	if err := e.st.DeleteKey(t.Context(), Admin, keys[1].ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	e.st.Maintain(t.Context())
	e.reopen()
	var notes []uint64
	e.st.Engine().Read(ctx, func(snap store.Snapshot) error {
		return snap.Scan(store.TableUsage, []byte("k"), store.ScanOptions{}, func(k, _ []byte) error {
			notes = append(notes, beUint64(k[1:])) // "k" and the key's id; "s…" are the app's scopes
			return nil
		})
	})
	if len(notes) != 1 || notes[0] != key.ID {
		t.Errorf("notes of use kept for keys %v, want only key %d's", notes, key.ID)
	}
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func testRollKey(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	oldText, old := e.key(t.Context(), app.ID, "ci")
	rollAt := e.next()
	newText, rolled, oldNow, err := e.st.RollKey(t.Context(), Admin, old.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rolled.AppID != app.ID || rolled.Name != "ci (rolled)" || rolled.ID == old.ID || newText == oldText ||
		!rolled.CreatedAt.Equal(rollAt) {
		t.Fatalf("new key = %+v", rolled)
	}
	if oldNow.ID != old.ID || !oldNow.DeleteAt.Equal(rollAt.Add(24*time.Hour)) || oldNow.State(rollAt) != store.KeyScheduled {
		t.Errorf("old key as it now is = %+v", oldNow)
	}
	keys, _ := e.st.Keys(t.Context(), app.ID)
	if len(keys) != 2 || keys[0].ID != old.ID || keys[0].Name != "ci" || keys[0].Hint != old.Hint ||
		keys[0].AppID != app.ID || !keys[0].DeleteAt.Equal(oldNow.DeleteAt) {
		t.Fatalf("after roll Keys = %+v", keys)
	}
	// Both work during the grace period.
	requireReason(t, e.st, "grace", oldText, scopes.ModelDeploy, store.Allowed)
	requireReason(t, e.st, "grace", newText, scopes.ModelDeploy, store.Allowed)
	if _, _, _, err := e.st.RollKey(t.Context(), Admin, old.ID, time.Hour); !errors.Is(err, store.ErrKeyRolled) {
		t.Errorf("second roll of the same key: %v, want ErrKeyRolled", err)
	}
	ev, _ := e.st.Audit(t.Context())
	if ev[0].Action != store.ActionKeyRoll || ev[0].KeyID != old.ID || ev[0].NewKeyID != rolled.ID ||
		!ev[0].DeleteAt.Equal(rollAt.Add(24*time.Hour)) || ev[0].Actor != Admin.Name {
		t.Errorf("roll audit = %+v", ev[0])
	}
	// When the grace period ends the old key is refused at once, as if
	// deleted, and no longer listed, before any sweep.
	e.clock.Advance(24 * time.Hour)
	requireReason(t, e.st, "due", oldText, scopes.ModelDeploy, store.UnknownKey)
	requireReason(t, e.st, "due", newText, scopes.ModelDeploy, store.Allowed)
	if keys, _ := e.st.Keys(t.Context(), app.ID); len(keys) != 1 || keys[0].ID != rolled.ID {
		t.Errorf("due key still listed: %+v", keys)
	}
	// The sweep removes it, audited in the name of the admin who rolled it.
	if err := e.st.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.st.App(t.Context(), app.ID); got.Keys != 1 {
		t.Errorf("app counts %d keys after the sweep", got.Keys)
	}
	ev, _ = e.st.Audit(t.Context())
	if ev[0].Action != store.ActionKeyDelete || ev[0].KeyID != old.ID || !ev[0].Scheduled || ev[0].Actor != Admin.Name ||
		ev[0].Origin != "scheduled by a roll" {
		t.Errorf("sweep audit = %+v", ev[0])
	}
	// Nothing left to do: a second sweep writes nothing.
	batches := e.eng.Batches()
	e.st.Maintain(t.Context())
	if e.eng.Batches() != batches {
		t.Error("a second sweep wrote something")
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

func testRollKeyNow(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	expires := e.clock.Peek().Add(90 * 24 * time.Hour)
	oldText, old, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "ci", store.KeyOptions{ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * 24 * time.Hour)
	newText, rolled, _, err := e.st.RollKey(t.Context(), Admin, old.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Gone at once; the new key takes its name and a lifetime of the same length.
	if rolled.Name != "ci" || !rolled.ExpiresAt.Equal(rolled.CreatedAt.Add(old.ExpiresAt.Sub(old.CreatedAt))) {
		t.Errorf("new key = %+v", rolled)
	}
	requireReason(t, e.st, "now", oldText, scopes.ModelDeploy, store.UnknownKey)
	requireReason(t, e.st, "now", newText, scopes.ModelDeploy, store.Allowed)
	if got, _ := e.st.App(t.Context(), app.ID); got.Keys != 1 {
		t.Errorf("app counts %d keys", got.Keys)
	}
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, g := range []time.Duration{-time.Second, store.MaxGrace + time.Second} {
		if _, _, _, err := e.st.RollKey(t.Context(), Admin, rolled.ID, g); !errors.Is(err, store.ErrGrace) {
			t.Errorf("grace %v: %v, want ErrGrace", g, err)
		}
	}
	e.unchanged(t, "refused rolls", before, batches)
	if _, _, _, err := e.st.RollKey(t.Context(), Admin, rolled.ID, store.MaxGrace); err != nil {
		t.Errorf("the longest grace: %v", err)
	}
}

func testRolledNames(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	long := strings.Repeat("k", store.MaxNameLen)
	_, k1 := e.key(t.Context(), app.ID, long)
	_, r1, _, err := e.st.RollKey(t.Context(), Admin, k1.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Name != strings.Repeat("k", store.MaxNameLen-9)+" (rolled)" {
		t.Errorf("rolled name %q", r1.Name)
	}
	_, k2 := e.key(t.Context(), app.ID, "ci")
	e.key(t.Context(), app.ID, "CI (ROLLED)")
	if _, r2, _, _ := e.st.RollKey(t.Context(), Admin, k2.ID, time.Hour); r2.Name != "ci (rolled 2)" {
		t.Errorf("rolled name %q, want ci (rolled 2)", r2.Name)
	}
}

// A deletion that fell due while no process had the database open happens
// when it is next opened.
func testRolledKeyDeletedAtOpen(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	oldText, old := e.key(t.Context(), app.ID, "ci")
	if _, _, _, err := e.st.RollKey(t.Context(), Admin, old.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.st.Close()
	e.clock.Advance(2 * time.Hour)
	e.reopen()
	if got, _ := e.st.App(t.Context(), app.ID); got.Keys != 1 {
		t.Errorf("after reopening the app counts %d keys", got.Keys)
	}
	ev, _ := e.st.Audit(t.Context())
	if ev[0].Action != store.ActionKeyDelete || ev[0].KeyID != old.ID || !ev[0].Scheduled {
		t.Errorf("audit = %+v", ev[0])
	}
	requireReason(t, e.st, "after the sweep", oldText, scopes.ModelDeploy, store.UnknownKey)
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

// The background loop does the sweep on its own.
func testMaintenanceLoop(t *testing.T, e *env) {
	e.reopen(store.WithMaintenance(5 * time.Millisecond))
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	_, old := e.key(t.Context(), app.ID, "ci")
	if _, _, _, err := e.st.RollKey(t.Context(), Admin, old.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	eventually(t, "the maintenance loop deleted the rolled key", func() bool {
		got, _ := e.st.App(t.Context(), app.ID)
		return got.Keys == 1
	})
}

// Verify runs beside writers, flushes and sweeps without a race, and never
// answers from a state the database did not have: a key is allowed only
// while it exists.
func testVerifyBesideWrites(t *testing.T, e *env) {
	e.reopen(store.WithMaintenance(time.Millisecond))
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	stable, _ := e.key(t.Context(), app.ID, "stable")
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if d := e.st.Verify(stable, scopes.ModelDeploy, netip.Addr{}); !d.Allowed {
					t.Errorf("a concurrent check failed: %v", d)
					return
				}
			}
		})
	}
	for i := range 30 {
		text, k := e.key(t.Context(), app.ID, fmt.Sprintf("k%d", i))
		requireReason(t, e.st, "new key", text, scopes.ModelDeploy, store.Allowed)
		switch i % 3 {
		case 0:
			if _, _, _, err := e.st.RollKey(t.Context(), Admin, k.ID, 0); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := e.st.DeleteKey(t.Context(), Admin, k.ID); err != nil {
				t.Fatal(err)
			}
		default:
			if _, _, _, err := e.st.RollKey(t.Context(), Admin, k.ID, time.Second); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(2 * time.Second)
		}
		requireReason(t, e.st, "removed key", text, scopes.ModelDeploy, store.UnknownKey)
	}
	close(done)
	wg.Wait()
}

var verifyCases = []testCase{
	{"EveryReason", testVerifyReasons},
	{"ScopesBelongToTheApp", testVerifyFollowsAppScopes},
}

func testVerifyReasons(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	text, key := e.key(t.Context(), app.ID, "ci")
	expiring, expiringKey, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "soon", store.KeyOptions{ExpiresIn: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	listed, listedKey, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "office", store.KeyOptions{
		AllowFrom: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}})
	if err != nil {
		t.Fatal(err)
	}
	rolledText, rolledKey := e.key(t.Context(), app.ID, "rolled")
	if _, _, _, err := e.st.RollKey(t.Context(), Admin, rolledKey.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	flipped := text[:20] + string("AB"[boolIndex(text[20] == 'A')]) + text[21:]
	unissued := WithChecksum("aps_" + strings.Repeat("7", 43))
	inside, outside := netip.MustParseAddr("192.0.2.77"), netip.MustParseAddr("198.51.100.7")

	tests := []struct {
		name   string
		key    string
		scope  scopes.ID
		reason store.Reason
		found  store.Key  // the Decision carries the app and this key
		from   netip.Addr // the client's address; the zero Addr: none named
	}{
		{"allowed", text, scopes.ModelDeploy, store.Allowed, key, netip.Addr{}},
		{"allowed other scope", text, scopes.ModelExport, store.Allowed, key, netip.Addr{}},
		{"scope not granted", text, scopes.WorkflowDeploy, store.ScopeNotGranted, key, netip.Addr{}},
		{"expired", expiring, scopes.ModelDeploy, store.Expired, expiringKey, netip.Addr{}},
		{"expired, scope not granted either", expiring, scopes.WorkflowDeploy, store.Expired, expiringKey, netip.Addr{}},
		{"unknown scope", text, "workflow:delete", store.UnknownScope, store.Key{}, netip.Addr{}},
		{"scope in upper case", text, "MODEL:DEPLOY", store.UnknownScope, store.Key{}, netip.Addr{}},
		{"empty scope", text, "", store.UnknownScope, store.Key{}, netip.Addr{}},
		{"malformed", "aps_nope", scopes.ModelDeploy, store.Malformed, store.Key{}, netip.Addr{}},
		{"empty key", "", scopes.ModelDeploy, store.Malformed, store.Key{}, netip.Addr{}},
		{"key with newline", text + "\n", scopes.ModelDeploy, store.Malformed, store.Key{}, netip.Addr{}},
		{"key without prefix", "apx_" + text[4:], scopes.ModelDeploy, store.Malformed, store.Key{}, netip.Addr{}},
		{"secret too large", WithChecksum("aps_" + strings.Repeat("z", 43)), scopes.ModelDeploy, store.Malformed, store.Key{}, netip.Addr{}},
		{"bad checksum", flipped, scopes.ModelDeploy, store.BadChecksum, store.Key{}, netip.Addr{}},
		{"unknown key", unissued, scopes.ModelDeploy, store.UnknownKey, store.Key{}, netip.Addr{}},
		{"rolled, past its grace", rolledText, scopes.ModelDeploy, store.UnknownKey, store.Key{}, netip.Addr{}},
		{"a key without a list, from anywhere", text, scopes.ModelDeploy, store.Allowed, key, outside},
		{"listed, from inside", listed, scopes.ModelDeploy, store.Allowed, listedKey, inside},
		{"listed, from inside as IPv4-mapped IPv6", listed, scopes.ModelDeploy, store.Allowed, listedKey,
			netip.MustParseAddr("::ffff:192.0.2.1")},
		{"listed, from inside over IPv6", listed, scopes.ModelExport, store.Allowed, listedKey, netip.MustParseAddr("2001:db8:7::1")},
		{"listed, from inside, scope not granted", listed, scopes.WorkflowDeploy, store.ScopeNotGranted, listedKey, inside},
		{"listed, from outside", listed, scopes.ModelDeploy, store.AddressNotAllowed, listedKey, outside},
		{"listed, from outside, scope not granted either", listed, scopes.WorkflowDeploy, store.AddressNotAllowed, listedKey, outside},
		{"listed, from no address", listed, scopes.ModelDeploy, store.AddressUnknown, listedKey, netip.Addr{}},
	}
	seen := map[store.Reason]bool{}
	for _, tt := range tests {
		d := e.st.Verify(tt.key, tt.scope, tt.from)
		if !tt.from.IsValid() {
			if plain := e.st.Lookup(tt.key, tt.scope); plain.Reason != d.Reason {
				t.Errorf("%s: Lookup = %v; Verify without an address = %v", tt.name, plain, d)
			}
		}
		seen[d.Reason] = true
		sameFromSnapshot(t, e, tt.name, d, tt.key, tt.scope, tt.from)
		if d.Allowed != (tt.reason == store.Allowed) || d.Reason != tt.reason || d.Scope != tt.scope {
			t.Errorf("%s: Verify = {Allowed:%v Reason:%s Scope:%s}, want %s", tt.name, d.Allowed, d.Reason, d.Scope, tt.reason)
		}
		if tt.found.ID != 0 {
			if d.App().ID != app.ID || d.App().Name != "Risk" || d.Key().ID != tt.found.ID || d.Key().Hint != tt.found.Hint {
				t.Errorf("%s: Decision app %+v key %+v; want app %d and key %d", tt.name, d.App(), d.Key(), app.ID, tt.found.ID)
			}
		} else if d.App().ID != 0 || d.Key().ID != 0 {
			t.Errorf("%s: Decision names app %d / key %d for a refused key", tt.name, d.App().ID, d.Key().ID)
		}
		msg := d.String()
		if msg == "" || strings.HasPrefix(msg, "allowed") != d.Allowed {
			t.Errorf("%s: String() = %q", tt.name, msg)
		}
		if tt.key != "" && strings.Contains(msg, tt.key) {
			t.Errorf("%s: String() %q holds the key", tt.name, msg)
		}
		if len(tt.key) >= store.KeyLen && strings.Contains(msg, Secret(tt.key[:store.KeyLen])) {
			t.Errorf("%s: String() %q holds the key's secret", tt.name, msg)
		}
	}
	for _, r := range store.Reasons {
		// Only a replica that cannot confirm it is current says unavailable
		// (fresh_test.go), and only one whose database moved past its
		// schema upgrade_required (the Schema cases), and only one whose
		// check at open found its database damaged damaged (opencheck_test.go).
		if !seen[r] && r != store.Unavailable && r != store.UpgradeRequired && r != store.Damaged {
			t.Errorf("no case gives reason %s", r)
		}
	}
}

// sameFromSnapshot asks the question the index answered with d of one
// snapshot of the database (store.VerifySnapshot, which follows the same
// rules without an index), and, for a key of the right form, by its digest
// both ways: every answer must be d.
func sameFromSnapshot(t *testing.T, e *env, name string, d store.Decision, key string, scope scopes.ID, from netip.Addr) {
	t.Helper()
	at := e.clock.Peek() // the moment the index decided at
	read := func(how string, decide func(store.Snapshot) (store.Decision, error)) {
		t.Helper()
		var got store.Decision
		err := e.eng.Read(context.Background(), func(snap store.Snapshot) (err error) {
			got, err = decide(snap)
			return err
		})
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Errorf("%s: %s = %+v, %v; the index said %+v", name, how, got, err, d)
		}
	}
	read("VerifySnapshot", func(snap store.Snapshot) (store.Decision, error) {
		return store.VerifySnapshot(snap, key, scope, from, at)
	})
	if store.CheckKey(key) != nil {
		return // a digest is of a key of the right form
	}
	digest := store.KeyDigest(key)
	if got := e.st.VerifyDigest(digest, scope, from); !reflect.DeepEqual(got, d) {
		t.Errorf("%s: VerifyDigest = %+v; Verify said %+v", name, got, d)
	}
	read("VerifySnapshotDigest", func(snap store.Snapshot) (store.Decision, error) {
		return store.VerifySnapshotDigest(snap, digest, scope, from, at)
	})
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Scopes belong to the app: changing them changes what every key of the app
// may do, on the very next check, both ways.
func testVerifyFollowsAppScopes(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	k1, _ := e.key(t.Context(), app.ID, "one")
	k2, _ := e.key(t.Context(), app.ID, "two")
	check := func(step string, scope scopes.ID, want store.Reason) {
		t.Helper()
		for _, k := range []string{k1, k2} {
			requireReason(t, e.st, step, k, scope, want)
		}
	}
	save := func(name string, set scopes.Set) {
		t.Helper()
		cur, _ := e.st.App(t.Context(), app.ID)
		if _, err := e.st.SaveApp(t.Context(), Admin, cur, name, set); err != nil {
			t.Fatal(err)
		}
	}
	check("created", scopes.ModelDeploy, store.Allowed)
	check("created", scopes.GuardrailDeploy, store.ScopeNotGranted)
	save("Risk", scopes.NewSet(scopes.GuardrailDeploy))
	check("re-scoped", scopes.ModelDeploy, store.ScopeNotGranted)
	check("re-scoped", scopes.GuardrailDeploy, store.Allowed)
	save("Risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	check("re-scoped again", scopes.ModelDeploy, store.Allowed)
	check("re-scoped again", scopes.ModelExport, store.Allowed)
	check("re-scoped again", scopes.GuardrailDeploy, store.ScopeNotGranted)
	save("Credit risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	check("renamed", scopes.ModelDeploy, store.Allowed)
	if d := e.st.Verify(k1, scopes.ModelDeploy, netip.Addr{}); d.App().Name != "Credit risk" {
		t.Errorf("the decision's app name = %q after a rename", d.App().Name)
	}
	keys, _ := e.st.Keys(t.Context(), app.ID)
	if err := e.st.DeleteKey(t.Context(), Admin, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	requireReason(t, e.st, "deleted", k1, scopes.ModelDeploy, store.UnknownKey)
	requireReason(t, e.st, "kept", k2, scopes.ModelDeploy, store.Allowed)
}
