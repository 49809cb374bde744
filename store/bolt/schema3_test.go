package bolt

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

// testdata/schema3.db (at the repository root) was written by the
// apiscopes before the key policy (schema 3), with a clock starting at
// 2026-12-08 09:00 UTC and moving a minute a reading, and keys drawn from
// ChaCha8 seeded with fixture3Seed, in order:
//
//	app 1 "Risk & Compliance" (workflow:deploy, model:deploy, model:export), by ada
//	  key 1 "reports-prod", checked once
//	  key 2 "reports-staging", expires 2027-01-01
//	app 2 "Customer Support" (guardrail:deploy, guardrail:undeploy, then guardrail:deploy only), by bo
//	  key 3 "support-bot", rolled with a week's grace: deleted at 2026-12-15 09:11
//	  key 5 "support-bot (rolled)"
//	app 3 "Sandbox" (model:import), deleted with its key 4 "notebook" (its digest entry not swept yet)
//	a login of bo over SSH, then the head signed
//
// Eleven audit events record it all, with the state hash.
const (
	fixture3     = "../../testdata/schema3.db"
	fixture3Seed = "apiscopes schema 3 fixture seed!"
)

// fixture3Now is after every change the fixture records and before its
// rolled key's deletion.
var fixture3Now = time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)

func fixture3Keys() []string {
	r := rand.NewChaCha8([32]byte([]byte(fixture3Seed)))
	var keys []string
	for range 5 {
		secret := make([]byte, 32)
		r.Read(secret)
		keys = append(keys, storetest.KeyText(secret))
	}
	return keys
}

func copyFixture3(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	writeFile(t, path, mustRead(t, fixture3))
	return path
}

// checkFixture3Answers checks what the story says some keys may do.
func checkFixture3Answers(t *testing.T, st *store.Store) {
	t.Helper()
	keys := fixture3Keys()
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
		// No key of schema 3 has an address list: any address, or none.
		for _, from := range []netip.Addr{{}, netip.MustParseAddr("203.0.113.9")} {
			if d := st.VerifyFrom(keys[tt.key-1], tt.scope, from); d.Reason != tt.want {
				t.Errorf("key %d %s from %v: %v; want %s", tt.key, tt.scope, from, d.Reason, tt.want)
			}
		}
	}
}

func checkFixture3View(t *testing.T, v view) {
	t.Helper()
	if got := names(v.apps); !slices.Equal(got, []string{"Customer Support", "Risk & Compliance"}) {
		t.Errorf("apps %q", got)
	}
	if len(v.audit) != 11 || v.audit[0].Seq != 11 || v.audit[0].Action != store.ActionSessionLogin || v.audit[0].State == "" {
		t.Errorf("%d audit events", len(v.audit))
	}
	if keys := v.keys[2]; len(keys) != 2 || keys[0].ID != 3 || !keys[0].DeleteAt.Equal(time.Date(2026, 12, 15, 9, 11, 0, 0, time.UTC)) || keys[1].ID != 5 {
		t.Errorf("the second app's keys %+v", keys)
	}
	if keys := v.keys[1]; len(keys) != 2 || keys[0].LastUsedAt.IsZero() || !keys[1].ExpiresAt.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("the first app's keys %+v", keys)
	}
}

// A reader of a schema 3 file reads it as it is, its state hash checked,
// and leaves it byte for byte as it was.
func TestSchema3ReadOnlyLeavesTheFileAsItIs(t *testing.T) {
	path := copyFixture3(t)
	before := mustRead(t, path)
	ro := openFixture(t, path, true, fixture3Now)
	checkFixture3View(t, read(t, ro))
	checkFixture3Answers(t, ro)
	if err := ro.Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	if p, err := ro.Policy(t.Context()); err != nil || !p.IsZero() {
		t.Errorf("Policy = %+v, %v; want none", p, err)
	}
	if a, err := ro.Approvals(t.Context()); err != nil || len(a) != 0 {
		t.Errorf("Approvals = %+v, %v", a, err)
	}
	ro.Close()
	if err := CheckFile(t.Context(), path); err != nil {
		t.Errorf("CheckFile: %v", err)
	}
	d, err := VerifyFile(path, fixture3Keys()[0], scopes.ModelDeploy, netip.MustParseAddr("192.0.2.1"), fixture3Now)
	if err != nil || d.Reason != store.Allowed {
		t.Errorf("VerifyFile = %v, %v", d, err)
	}
	if after := mustRead(t, path); !bytes.Equal(before, after) {
		t.Error("reading the schema 3 file changed it")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("reading left files beside it: %v", entries)
	}
}

// A writer upgrades a schema 3 file to schema 4 after keeping a checked
// copy: the records, the trail, its head and the state hash stay as they
// are; only the version moves, so that no apiscopes of schema 3 writes it
// again. Policies and address lists then work on it.
func TestSchema3Migration(t *testing.T) {
	path := copyFixture3(t)
	ro := openFixture(t, path, true, fixture3Now)
	wantView := read(t, ro)
	wantHead, err := ro.VerifyAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()

	st := openFixture(t, path, false, fixture3Now)
	copies, _ := filepath.Glob(path + ".schema3-*.bak")
	if len(copies) != 1 {
		t.Fatalf("copies kept before the upgrade: %v", copies)
	}
	if got := read(t, st); got.String() != wantView.String() {
		t.Errorf("after the upgrade:\n%s\nwant\n%s", got, wantView)
	}
	checkFixture3Answers(t, st)
	head, err := st.VerifyAudit(t.Context())
	if err != nil || head != wantHead {
		t.Fatalf("after the upgrade the head is %+v, %v; want %+v as it was", head, err, wantHead)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	var state store.StateHash
	err = st.Engine().Read(context.Background(), func(snap store.Snapshot) (err error) {
		state, err = store.StateOf(snap)
		return err
	})
	if err != nil || state.Sum() != head.State {
		t.Errorf("the head commits to state %s; the records are %s", head.State, state.Sum())
	}
	// What schema 4 adds works on the upgraded file, and check follows it.
	ada := store.Actor{Name: "ada", Role: store.Admin, Origin: "local"}
	pol, err := st.SetPolicy(t.Context(), ada, store.Policy{}, store.Policy{Approval: scopes.NewSet(scopes.GuardrailUndeploy)})
	if err != nil || pol.Approval != scopes.NewSet(scopes.GuardrailUndeploy) {
		t.Fatalf("SetPolicy = %+v, %v", pol, err)
	}
	support, _ := st.AppNamed(t.Context(), "Customer Support")
	if _, err := st.SaveApp(t.Context(), ada, support, support.Name, support.Scopes.With(scopes.GuardrailUndeploy)); !errors.Is(err, store.ErrPending) {
		t.Fatalf("a sensitive grant after the upgrade: %v", err)
	}
	text, _, err := st.CreateKeyWith(t.Context(), ada, support.ID, "office", store.KeyOptions{AllowFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if s := rawMeta(t, path, "schema"); string(s) != store.SchemaV4 {
		t.Errorf("schema %q after the upgrade", s)
	}
	for from, want := range map[string]store.Reason{"10.1.2.3": store.Allowed, "192.0.2.1": store.AddressNotAllowed, "": store.AddressUnknown} {
		var client netip.Addr
		if from != "" {
			client = netip.MustParseAddr(from)
		}
		if d, err := VerifyFile(path, text, scopes.GuardrailDeploy, client, fixture3Now); err != nil || d.Reason != want {
			t.Errorf("VerifyFile from %q = %v, %v; want %s", from, d, err, want)
		}
	}

	// The copy is the schema 3 file as it was, checked; the next open
	// keeps no other.
	if err := CheckFile(t.Context(), copies[0]); err != nil {
		t.Errorf("the kept copy: %v", err)
	}
	if fi, err := os.Stat(copies[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the kept copy: %v, %v; want mode 0600", fi, err)
	}
	if schema := rawMeta(t, copies[0], "schema"); string(schema) != store.SchemaV3 {
		t.Errorf("the kept copy has schema %q", schema)
	}
	openFixture(t, path, false, fixture3Now).Close()
	if again, _ := filepath.Glob(path + ".schema3-*.bak"); len(again) != 1 {
		t.Errorf("a second open kept another copy: %v", again)
	}
}

// An upgrade that cannot keep its copy first changes nothing.
func TestSchema3MigrationNeedsItsCopy(t *testing.T) {
	path := copyFixture3(t)
	before := mustRead(t, path)
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
	if after := mustRead(t, path); !bytes.Equal(before, after) {
		t.Error("the file changed")
	}
}
