package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

// testdata/schema1.db (at the repository root) was written by the apiscopes before its store was
// split into rules and engines (schema 1), with a clock starting at
// 2026-11-30 09:00 UTC and moving a minute a reading, and keys drawn from
// ChaCha8 seeded with fixtureSeed, in order:
//
//	app 1 "Risk & Compliance" (workflow:deploy, model:deploy, model:export)
//	  key 1 "reports-prod", last used 09:12
//	  key 2 "reports-staging", expires 2027-01-01
//	app 2 "Customer Support" (guardrail:deploy, guardrail:undeploy, then guardrail:deploy only)
//	  key 3 "support-bot", rolled with a week's grace: deleted at 2026-12-07 09:10
//	  key 5 "support-bot (rolled)"
//	app 3 "Sandbox" (model:import), deleted with its key 4 "notebook"
//
// Ten audit events record it all. The keys' text is never stored: the
// tests draw them again from the seed.
const (
	fixture     = "../../testdata/schema1.db"
	fixtureSeed = "apiscopes schema 1 fixture seed!"
)

// fixtureNow is after every change the fixture records and before its
// rolled key's deletion and its staging key's expiry.
var fixtureNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func fixtureKeys() []string {
	r := rand.NewChaCha8([32]byte([]byte(fixtureSeed)))
	var keys []string
	for range 5 {
		secret := make([]byte, 32)
		r.Read(secret)
		keys = append(keys, storetest.KeyText(secret))
	}
	return keys
}

// copyFixture copies the fixture into a folder of its own.
func copyFixture(t *testing.T) string {
	t.Helper()
	src, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "old.db")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func openFixture(t *testing.T, path string, readOnly bool, at time.Time, opts ...store.Option) *store.Store {
	t.Helper()
	opts = append([]store.Option{store.WithClock(func() time.Time { return at }), store.WithMaintenance(0)}, opts...)
	if readOnly {
		opts = append(opts, store.ReadOnly())
	}
	st, err := OpenStore(path, Options{ReadOnly: readOnly}, opts...)
	if err != nil {
		t.Fatalf("open the schema 1 database (read-only %v): %v", readOnly, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// answers is every decision on every fixture key for every scope.
func answers(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	for i, key := range fixtureKeys() {
		for _, sc := range scopes.All() {
			d, err := st.Verify(key, sc.ID)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("key %d %s: %s app %d key %d %s", i+1, sc.ID, d.Reason, d.App().ID, d.Key().ID, d.Key().Hint))
		}
	}
	return out
}

// checkFixtureAnswers checks what the fixture's story says each key may do.
func checkFixtureAnswers(t *testing.T, got []string) {
	t.Helper()
	for _, want := range []string{
		"key 1 model:deploy: allowed app 1 key 1 aps_…BUNv",
		"key 1 guardrail:deploy: scope_not_granted app 1 key 1 aps_…BUNv",
		"key 2 model:export: allowed app 1 key 2 aps_…7E1k",
		"key 3 guardrail:deploy: allowed app 2 key 3 aps_…BtJa",
		"key 3 guardrail:undeploy: scope_not_granted app 2 key 3 aps_…BtJa",
		"key 4 model:import: unknown_key app 0 key 0 ",
		"key 5 guardrail:deploy: allowed app 2 key 5 aps_…8HfY",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no answer %q", want)
		}
	}
}

func checkFixtureView(t *testing.T, v view) {
	t.Helper()
	if got := names(v.apps); !slices.Equal(got, []string{"Customer Support", "Risk & Compliance"}) {
		t.Errorf("apps %q", got)
	}
	if len(v.audit) != 10 || v.audit[0].Seq != 10 || v.audit[9].Seq != 1 {
		t.Errorf("%d audit events", len(v.audit))
	}
	keys := v.keys[1]
	if len(keys) != 2 || !keys[0].LastUsedAt.Equal(time.Date(2026, 11, 30, 9, 12, 0, 0, time.UTC)) ||
		!keys[1].ExpiresAt.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("the first app's keys %+v", keys)
	}
	keys = v.keys[2]
	if len(keys) != 2 || keys[0].ID != 3 || !keys[0].DeleteAt.Equal(time.Date(2026, 12, 7, 9, 10, 0, 0, time.UTC)) || keys[1].ID != 5 {
		t.Errorf("the second app's keys %+v", keys)
	}
}

func names(apps []store.App) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name)
	}
	return out
}

// A reader of a schema 1 file sees it all, migrated in memory, and leaves
// the file byte for byte as it was: an old file can be looked at by any
// later version without a writer.
func TestSchema1ReadOnlyLeavesTheFileAsItIs(t *testing.T) {
	path := copyFixture(t)
	before, _ := os.ReadFile(path)
	ro := openFixture(t, path, true, fixtureNow)
	v := read(t, ro)
	checkFixtureView(t, v)
	checkFixtureAnswers(t, answers(t, ro))
	if err := ro.Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	if _, err := ro.CreateApp(t.Context(), admin, "x", scopes.Full()); !errors.Is(err, store.ErrWriteFailed) {
		t.Errorf("a change through a reader = %v", err)
	}
	ro.Close()
	if err := CheckFile(t.Context(), path); err != nil {
		t.Errorf("CheckFile: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("reading the schema 1 file changed it")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("reading left files beside it: %v", entries)
	}
}

// A writer migrates a schema 1 file to schema 2 after keeping a checked
// copy of it: everything reads as before, every key verifies with the same
// answers, no id is handed out again, and the audit trail goes on from
// where it was.
func TestSchema1Migration(t *testing.T) {
	path := copyFixture(t)
	original, _ := os.ReadFile(path)
	ro := openFixture(t, path, true, fixtureNow)
	wantView, wantAnswers := read(t, ro), answers(t, ro)
	ro.Close()

	st := openFixture(t, path, false, fixtureNow)
	copies, _ := filepath.Glob(path + ".schema1-*.bak")
	if len(copies) != 1 {
		t.Fatalf("copies kept before the migration: %v", copies)
	}
	if got := read(t, st); got.String() != wantView.String() {
		t.Errorf("after the migration:\n%s\nwant\n%s", got, wantView)
	}
	if got := answers(t, st); !slices.Equal(got, wantAnswers) {
		t.Errorf("after the migration the keys answer\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAnswers, "\n"))
	}
	checkFixtureAnswers(t, answers(t, st))
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	// No id is handed out twice: app 3 and key 4 were deleted, not forgotten.
	app := mustApp(t, st, "New", scopes.NewSet(scopes.ModelDeploy))
	_, key := mustKey(t, st, app.ID, "new")
	if app.ID != 4 || key.ID != 6 {
		t.Errorf("after the migration the next app is %d and key %d, want 4 and 6", app.ID, key.ID)
	}
	events, _ := st.Audit(t.Context())
	if len(events) != 12 || events[0].Seq != 12 || events[1].Seq != 11 {
		t.Errorf("the audit trail goes on with %d events, newest %d", len(events), events[0].Seq)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// The copy is the schema 1 file as it was, checked; the next open
	// keeps no other.
	if err := CheckFile(t.Context(), copies[0]); err != nil {
		t.Errorf("the kept copy: %v", err)
	}
	if fi, err := os.Stat(copies[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the kept copy: %v, %v; want mode 0600", fi, err)
	}
	if schema := rawMeta(t, copies[0], "schema"); string(schema) != store.SchemaV1 {
		t.Errorf("the kept copy has schema %q", schema)
	}
	kept := openFixture(t, copies[0], true, fixtureNow)
	if got := read(t, kept); got.String() != wantView.String() {
		t.Errorf("the kept copy reads\n%s\nwant\n%s", got, wantView)
	}
	if bytes.Equal(original, mustRead(t, path)) {
		t.Error("the migration did not change the file")
	}
	openFixture(t, path, false, fixtureNow).Close()
	if again, _ := filepath.Glob(path + ".schema1-*.bak"); len(again) != 1 {
		t.Errorf("a second open kept another copy: %v", again)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawMeta reads one entry of a file's meta bucket with bbolt itself.
func rawMeta(t *testing.T, path, key string) []byte {
	t.Helper()
	var v []byte
	rawView(t, path, func(tx *bbolt.Tx) error {
		v = bytes.Clone(tx.Bucket([]byte("meta")).Get([]byte(key)))
		return nil
	})
	return v
}

func rawView(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationV1ToV4 looks at the file a migration leaves: schema 4's
// layout (schema 2's records and a state hash with the head; no policy
// yet), written in one change.
func TestMigrationV1ToV4(t *testing.T) {
	path := copyFixture(t)
	openFixture(t, path, false, fixtureNow).Close()
	be := func(v uint64) string { return string(binary.BigEndian.AppendUint64(nil, v)) }
	rawView(t, path, func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		for k, want := range map[string]string{
			"schema":      store.SchemaV4,
			"seq.apps":    be(3), // app 3 was deleted: the counter remembers it
			"seq.keys":    be(5),
			"usage.since": fixtureNow.Format(time.RFC3339),
		} {
			if got := string(meta.Get([]byte(k))); got != want {
				t.Errorf("meta %s = %q, want %q", k, got, want)
			}
		}
		var head struct {
			Seq   uint64 `json:"seq"`
			Hash  string `json:"hash"`
			State string `json:"state"`
		}
		if err := json.Unmarshal(meta.Get([]byte("audit.head")), &head); err != nil || head.Seq != 10 || len(head.Hash) != 64 {
			t.Errorf("audit head %s: the chained trail of 10 events, %v", meta.Get([]byte("audit.head")), err)
		}
		if state, err := store.StateOf(snapshot{tx}); err != nil || head.State != state.Sum() {
			t.Errorf("the head commits to state %q, the apps and keys are %q (%v)", head.State, state.Sum(), err)
		}
		// A checkpoint of the state hash: the event it is at, then the lanes.
		if cp := meta.Get([]byte("audit.state")); len(cp) < 8 || string(cp[:8]) != be(10) {
			t.Errorf("the state's checkpoint is at %x, want event 10", cp[:min(len(cp), 8)])
		} else if lanes, err := store.ParseStateHash(cp[8:]); err != nil || lanes.Sum() != head.State {
			t.Errorf("the lanes kept with the head: %v", err)
		}
		if got := tx.Bucket([]byte("engine")).Get([]byte("revision")); string(got) != be(1) {
			t.Errorf("engine revision %x, want one change", got)
		}
		if b := tx.Bucket([]byte("app_keys")); b != nil && b.Stats().KeyN != 0 {
			t.Errorf("schema 1's app-key index still holds %d entries", b.Stats().KeyN)
		}
		var keys []string
		tx.Bucket([]byte("keys")).ForEach(func(k, v []byte) error {
			var rec map[string]any
			json.Unmarshal(v, &rec)
			if _, ok := rec["last_used_at"]; ok {
				t.Errorf("key %x still holds its last use", k)
			}
			keys = append(keys, fmt.Sprintf("%d/%d", binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])))
			return nil
		})
		if !slices.Equal(keys, []string{"1/1", "1/2", "2/3", "2/5"}) {
			t.Errorf("keys are kept under %q, want app/key", keys)
		}
		var digests []string
		tx.Bucket([]byte("digests")).ForEach(func(_, v []byte) error {
			digests = append(digests, fmt.Sprintf("%d/%d", binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])))
			return nil
		})
		slices.Sort(digests)
		if !slices.Equal(digests, keys) {
			t.Errorf("digests point at %q, want %q", digests, keys)
		}
		used := tx.Bucket([]byte("usage")).Get([]byte("k" + be(1)))
		if len(used) != 8 || time.Unix(0, int64(binary.BigEndian.Uint64(used))).UTC() != time.Date(2026, 11, 30, 9, 12, 0, 0, time.UTC) {
			t.Errorf("key 1's last use is kept as %x", used)
		}
		if n := tx.Bucket([]byte("usage")).Stats().KeyN; n != 1 {
			t.Errorf("%d notes of use, want key 1's", n)
		}
		return nil
	})
}

// A migration that cannot keep its copy first changes nothing.
func TestMigrationNeedsItsCopy(t *testing.T) {
	path := copyFixture(t)
	before, _ := os.ReadFile(path)
	e, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(e, store.WithMigrationBackup(func() (string, error) { return "", errors.New("no room for a copy") }))
	if err == nil {
		st.Close()
		t.Fatal("the migration went ahead without its copy")
	}
	if !strings.Contains(err.Error(), "no room for a copy") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("err = %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the file changed")
	}
}

// Opened after the rolled key's grace ended, the migrated file has it
// deleted at once, in the name of the admin who rolled it.
func TestSchema1RolledKeyDueAtMigration(t *testing.T) {
	path := copyFixture(t)
	later := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	st := openFixture(t, path, false, later)
	events, _ := st.Audit(t.Context())
	if ev := events[0]; ev.Seq != 11 || ev.Action != store.ActionKeyDelete || ev.KeyID != 3 || !ev.Scheduled || ev.Actor != "amara" {
		t.Errorf("the newest event = %+v", ev)
	}
	keys := fixtureKeys()
	for i, want := range []store.Reason{store.Allowed, store.Allowed, store.UnknownKey, store.UnknownKey, store.Allowed} {
		d, _ := st.Verify(keys[i], scopes.All()[0].ID)
		if d.Reason != want && !(want == store.Allowed && d.Reason == store.ScopeNotGranted) {
			t.Errorf("key %d: %s, want %s", i+1, d.Reason, want)
		}
	}
	if err := st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}
