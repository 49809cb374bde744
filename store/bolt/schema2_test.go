package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
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

// testdata/schema2.db (at the repository root) was written by the
// apiscopes before the state hash (schema 2), with a clock starting at
// 2026-11-30 09:00 UTC and moving a minute a reading, and keys drawn from
// ChaCha8 seeded with fixture2Seed, in order:
//
//	app 1 "Risk & Compliance" (workflow:deploy, model:deploy, model:export)
//	  key 1 "reports-prod", checked once
//	  key 2 "reports-staging", expires 2027-01-01
//	app 2 "Customer Support" (guardrail:deploy, guardrail:undeploy, then guardrail:deploy only)
//	  key 3 "support-bot", rolled with a week's grace: deleted at 2026-12-07 09:11
//	  key 5 "support-bot (rolled)"
//	app 3 "Sandbox" (model:import), deleted with its key 4 "notebook" (its digest entry not swept yet)
//	a login of bo over SSH
//
// Eleven audit events record it all.
const (
	fixture2     = "../../testdata/schema2.db"
	fixture2Seed = "apiscopes schema 2 fixture seed!"
)

func fixture2Keys() []string {
	r := rand.NewChaCha8([32]byte([]byte(fixture2Seed)))
	var keys []string
	for range 5 {
		secret := make([]byte, 32)
		r.Read(secret)
		keys = append(keys, storetest.KeyText(secret))
	}
	return keys
}

func copyFixture2(t *testing.T) string {
	t.Helper()
	src, err := os.Open(fixture2)
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

// fixture2Answers is what the story says some keys may do.
func checkFixture2Answers(t *testing.T, st *store.Store) {
	t.Helper()
	keys := fixture2Keys()
	for _, tt := range []struct {
		key   int
		scope scopes.ID
		want  store.Reason
	}{
		{1, scopes.ModelDeploy, store.Allowed},
		{1, scopes.GuardrailDeploy, store.ScopeNotGranted},
		{2, scopes.ModelExport, store.Allowed},
		{3, scopes.GuardrailDeploy, store.Allowed},
		{3, scopes.GuardrailUndeploy, store.ScopeNotGranted},
		{4, scopes.ModelImport, store.UnknownKey},
		{5, scopes.GuardrailDeploy, store.Allowed},
	} {
		d, err := st.Verify(keys[tt.key-1], tt.scope)
		if err != nil || d.Reason != tt.want {
			t.Errorf("key %d %s: %v, %v; want %s", tt.key, tt.scope, d.Reason, err, tt.want)
		}
	}
}

func checkFixture2View(t *testing.T, v view) {
	t.Helper()
	if got := names(v.apps); !slices.Equal(got, []string{"Customer Support", "Risk & Compliance"}) {
		t.Errorf("apps %q", got)
	}
	if len(v.audit) != 11 || v.audit[0].Seq != 11 || v.audit[0].Action != store.ActionSessionLogin {
		t.Errorf("%d audit events", len(v.audit))
	}
	if keys := v.keys[2]; len(keys) != 2 || keys[0].ID != 3 || !keys[0].DeleteAt.Equal(time.Date(2026, 12, 7, 9, 11, 0, 0, time.UTC)) || keys[1].ID != 5 {
		t.Errorf("the second app's keys %+v", keys)
	}
}

// A reader of a schema 2 file reads it as it is and leaves it byte for
// byte as it was; its check has no state hash to compare yet.
func TestSchema2ReadOnlyLeavesTheFileAsItIs(t *testing.T) {
	path := copyFixture2(t)
	before, _ := os.ReadFile(path)
	ro := openFixture(t, path, true, fixtureNow)
	checkFixture2View(t, read(t, ro))
	checkFixture2Answers(t, ro)
	if err := ro.Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	if head, err := ro.Head(t.Context()); err != nil || head.Seq != 11 || head.State != "" {
		t.Errorf("Head = %+v, %v; want event 11 and no state", head, err)
	}
	ro.Close()
	if err := CheckFile(t.Context(), path); err != nil {
		t.Errorf("CheckFile: %v", err)
	}
	d, err := VerifyFile(path, fixture2Keys()[0], scopes.ModelDeploy, netip.Addr{}, fixtureNow)
	if err != nil || d.Reason != store.Allowed {
		t.Errorf("VerifyFile = %v, %v", d, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("reading the schema 2 file changed it")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("reading left files beside it: %v", entries)
	}
}

// A writer upgrades a schema 2 file to schema 3 after keeping a checked
// copy: the state hash of its apps and keys is computed once and kept with
// the head, the trail is left as it was, everything reads and answers as
// before, and every change from then on keeps the hash.
func TestSchema2Migration(t *testing.T) {
	path := copyFixture2(t)
	ro := openFixture(t, path, true, fixtureNow)
	wantView := read(t, ro)
	wantHead, err := ro.VerifyAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()

	st := openFixture(t, path, false, fixtureNow)
	copies, _ := filepath.Glob(path + ".schema2-*.bak")
	if len(copies) != 1 {
		t.Fatalf("copies kept before the upgrade: %v", copies)
	}
	if got := read(t, st); got.String() != wantView.String() {
		t.Errorf("after the upgrade:\n%s\nwant\n%s", got, wantView)
	}
	checkFixture2Answers(t, st)
	head, err := st.VerifyAudit(t.Context())
	if err != nil || head.Seq != wantHead.Seq || head.Hash != wantHead.Hash || len(head.State) != 64 {
		t.Fatalf("after the upgrade the head is %+v, %v; want the trail as it was, %s, and a state", head, err, wantHead)
	}
	if _, err := st.VerifyAuditExtends(t.Context(), wantHead); err != nil {
		t.Errorf("the upgraded trail does not extend the head saved before: %v", err)
	}
	var state store.StateHash
	err = st.Engine().Read(context.Background(), func(snap store.Snapshot) (err error) {
		state, err = store.StateOf(snap)
		return err
	})
	if err != nil || state.Sum() != head.State {
		t.Errorf("the head commits to state %s; the apps and keys are %s", head.State, state.Sum())
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	app := mustApp(t, st, "New", scopes.NewSet(scopes.ModelDeploy))
	mustKey(t, st, app.ID, "new")
	events, _ := st.Audit(t.Context())
	if len(events) != 13 || events[0].State == "" || len(events[0].Records) != 2 || events[2].State != "" {
		t.Errorf("the trail goes on with %d events, the newest %+v", len(events), events[0])
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if s := rawMeta(t, path, "schema"); string(s) != store.Schema {
		t.Errorf("schema %q after the upgrade", s)
	}
	if d, err := VerifyFile(path, fixture2Keys()[4], scopes.GuardrailDeploy, netip.Addr{}, fixtureNow); err != nil || d.Reason != store.Allowed {
		t.Errorf("VerifyFile of the upgraded file = %v, %v", d, err)
	}

	// The copy is the schema 2 file as it was, checked; the next open
	// keeps no other.
	if err := CheckFile(t.Context(), copies[0]); err != nil {
		t.Errorf("the kept copy: %v", err)
	}
	if fi, err := os.Stat(copies[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the kept copy: %v, %v; want mode 0600", fi, err)
	}
	if schema := rawMeta(t, copies[0], "schema"); string(schema) != store.SchemaV2 {
		t.Errorf("the kept copy has schema %q", schema)
	}
	openFixture(t, path, false, fixtureNow).Close()
	if again, _ := filepath.Glob(path + ".schema2-*.bak"); len(again) != 1 {
		t.Errorf("a second open kept another copy: %v", again)
	}
}

// An upgrade that cannot keep its copy first changes nothing.
func TestSchema2MigrationNeedsItsCopy(t *testing.T) {
	path := copyFixture2(t)
	before, _ := os.ReadFile(path)
	e, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(e, store.WithMigrationBackup(func() (string, error) { return "", errors.New("no room for a copy") }))
	if err == nil {
		st.Close()
		t.Fatal("the upgrade went ahead without its copy")
	}
	if !strings.Contains(err.Error(), "no room for a copy") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("err = %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the file changed")
	}
}

// After the upgrade a record changed behind the store's back is caught
// whether or not the trail's marks name it: a record older than the
// upgrade only by the state hash, a newer one by name.
func TestSchema2TamperingAfterTheUpgrade(t *testing.T) {
	path := copyFixture2(t)
	st := openFixture(t, path, false, fixtureNow)
	mustKey(t, st, 1, "written since")
	st.Close()
	for _, tt := range []struct {
		name string
		key  []byte
		says string
	}{
		{"a key older than the upgrade", append(be(1), be(1)...), "older than the upgrade to schema 3"},
		{"a key written since", append(be(1), be(6)...), "key 6 of app 1 was changed without an audit event"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tampered.db")
			writeFile(t, p, mustRead(t, path))
			db, err := bbolt.Open(p, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bbolt.Tx) error {
				keys := tx.Bucket([]byte("keys"))
				var rec map[string]any
				if err := json.Unmarshal(keys.Get(tt.key), &rec); err != nil {
					return err
				}
				rec["expires_at"] = "2099-01-01T00:00:00Z"
				v, _ := json.Marshal(rec)
				return keys.Put(tt.key, v)
			})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			err = CheckFile(t.Context(), p)
			if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("CheckFile = %v\nwant damage that says %q", err, tt.says)
			}
		})
	}
}

func be(v uint64) []byte { return beBytes(v) }
