package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

var schemaCases = []testCase{
	{"NewerSchemaWrittenUnderAStore", testNewerSchemaUnderneath},
	{"NewerSchemaRefusedAtOpen", testNewerSchemaAtOpen},
	{"AnotherProgramsDataRefused", testForeignSchema},
	{"RetiredScopesKept", testRetiredScopes},
	{"UpgradeFromSchema2", testUpgradeFromSchema2},
}

// schemaKey is where the schema version is kept: part of the format.
var schemaKey = []byte("schema")

// newerSchema is a schema version this apiscopes does not know.
const newerSchema = "apiscopes/9"

func itob(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// rawGet reads one record through an engine.
func rawGet(t *testing.T, eng store.Engine, tb store.Table, key []byte) []byte {
	t.Helper()
	var v []byte
	if err := eng.Read(ctx, func(snap store.Snapshot) (err error) { v, err = snap.Get(tb, key); return err }); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every change requires the schema it was computed under: once a newer
// apiscopes has written its schema, this one's changes are refused with a
// clear error and write nothing; and as soon as its change stream shows
// the new schema, it answers no check (it would not understand every
// record) and is not ready: a replica of the older version during a
// rolling upgrade fails closed.
func testNewerSchemaUnderneath(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, key := e.key(t.Context(), app.ID, "ci")
	if !e.st.Ready() || e.st.Outdated() != nil {
		t.Fatalf("before the upgrade: ready %v, outdated %v", e.st.Ready(), e.st.Outdated())
	}
	sub := e.st.Subscribe()
	defer sub.Close()
	commit(t, e.st.Engine(), put(store.TableMeta, "schema", newerSchema))
	eventually(t, "the store sees the newer schema", func() bool { return e.st.Outdated() != nil })
	if err := e.st.Outdated(); !errors.Is(err, store.ErrNewerSchema) || !strings.Contains(err.Error(), newerSchema) {
		t.Errorf("Outdated = %v", err)
	}
	if e.st.Ready() {
		t.Error("a store whose database moved past its schema is ready")
	}
	select {
	case up := <-sub.C:
		if !up.Resync {
			t.Errorf("subscribers were told %+v, not to read again", up)
		}
	case <-time.After(10 * time.Second):
		t.Error("subscribers were not told to read again")
	}
	for _, scope := range []scopes.ID{scopes.ModelDeploy, scopes.WorkflowDeploy} {
		requireReason(t, e.st, "checks fail closed", text, scope, store.UpgradeRequired)
	}
	if d := e.st.VerifyFrom(text, scopes.ModelDeploy, netip.MustParseAddr("192.0.2.1")); d.Reason != store.UpgradeRequired ||
		d.Found() || !d.Reason.Failed() {
		t.Errorf("VerifyFrom = %v, found %v", d, d.Found())
	}
	before, batches := readState(t, e.st), e.eng.Batches()
	for _, w := range append(writes(t.Context(), e, app, key, "New"),
		write{"DeleteApp", func(a store.Actor) error { return e.st.DeleteApp(t.Context(), a, app.ID) }},
		write{"DeleteKey", func(a store.Actor) error { return e.st.DeleteKey(t.Context(), a, key.ID) }},
		write{"RollKey", func(a store.Actor) error { _, _, _, err := e.st.RollKey(t.Context(), a, key.ID, time.Hour); return err }},
	) {
		err := w.do(Admin)
		if !errors.Is(err, store.ErrNewerSchema) || !strings.Contains(err.Error(), newerSchema) {
			t.Errorf("%s under a newer schema = %v, want ErrNewerSchema", w.name, err)
		}
	}
	e.unchanged(t, "changes under a newer schema", before, batches)
	requireReason(t, e.st, "checks stay closed", text, scopes.ModelDeploy, store.UpgradeRequired)
}

func testNewerSchemaAtOpen(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	commit(t, e.st.Engine(), put(store.TableMeta, "schema", newerSchema))
	e.st.Close()
	for _, opts := range [][]store.Option{nil, {store.ReadOnly()}} {
		st, err := store.New(e.open(t), append(opts, store.WithClock(e.clock.Now))...)
		if err == nil {
			st.Close()
			t.Fatal("a store opened a database of a newer schema")
		}
		if !errors.Is(err, store.ErrNewerSchema) || !strings.Contains(err.Error(), "upgrade apiscopes") {
			t.Errorf("open = %v, want ErrNewerSchema saying to upgrade", err)
		}
	}
	eng := e.open(t)
	defer eng.Close()
	if v := rawGet(t, eng, store.TableMeta, schemaKey); string(v) != newerSchema {
		t.Errorf("the refused database's schema is now %q", v)
	}
	if v := rawGet(t, eng, store.TableApps, itob(app.ID)); v == nil {
		t.Error("the refused database lost an app")
	}
}

func testForeignSchema(t *testing.T, e *env) {
	for _, tt := range []struct {
		name  string
		batch *store.Batch
	}{
		{"another program's schema", put(store.TableMeta, "schema", "otherapp/1", "theme", "dark")},
		{"no schema at all", put(store.TableApps, "settings", "{}")},
	} {
		open := e.h.New(t)
		eng := open(t)
		commit(t, eng, tt.batch)
		eng.Close()
		for _, opts := range [][]store.Option{{store.ReadOnly()}, {}} {
			if tt.name == "no schema at all" && len(opts) == 0 {
				continue // a writer takes a database with no schema for an empty one
			}
			st, err := store.New(open(t), opts...)
			if err == nil {
				st.Close()
				t.Fatalf("%s: a store opened it", tt.name)
			}
			if !errors.Is(err, store.ErrNotDatabase) {
				t.Errorf("%s: open = %v, want ErrNotDatabase", tt.name, err)
			}
		}
		eng = open(t)
		for _, op := range tt.batch.Ops {
			if v := rawGet(t, eng, op.Table, op.Key); !bytes.Equal(v, op.Value) {
				t.Errorf("%s: the refused database's %s/%s is now %q", tt.name, op.Table, op.Key, v)
			}
		}
		eng.Close()
	}
	// An empty database is no database to a reader.
	if st, err := store.New(e.raw(), store.ReadOnly()); err == nil || !errors.Is(err, store.ErrNotDatabase) {
		if st != nil {
			st.Close()
		}
		t.Errorf("a read-only open of an empty database = %v, want ErrNotDatabase", err)
	}
}

// An app whose record holds a scope id this apiscopes does not know (one
// retired since, or written by a later version) opens, shows it as
// retired, never grants it, and keeps it when the app is saved.
func testRetiredScopes(t *testing.T, e *env) {
	const retired = "workflow:retire-me"
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, _ := e.key(t.Context(), app.ID, "ci")
	raw := rawGet(t, e.st.Engine(), store.TableApps, itob(app.ID))
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	rec["scopes"] = append(rec["scopes"].([]any), retired)
	changed, _ := json.Marshal(rec)
	commit(t, e.st.Engine(), put(store.TableApps, string(itob(app.ID)), string(changed)))
	Reseal(t, e.st.Engine()) // as the version that wrote it keeps the state hash
	e.reopen()

	got, err := e.st.App(t.Context(), app.ID)
	if err != nil {
		t.Fatalf("an app with a retired scope: %v", err)
	}
	if got.Scopes != scopes.NewSet(scopes.ModelDeploy) || !slices.Equal(got.Retired, []string{retired}) {
		t.Errorf("App = scopes %v, retired %q", got.Scopes, got.Retired)
	}
	if apps, _ := e.st.Apps(t.Context()); len(apps) != 1 || !slices.Equal(apps[0].Retired, []string{retired}) {
		t.Errorf("Apps = %+v", apps)
	}
	requireReason(t, e.st, "the retired scope", text, retired, store.UnknownScope)
	requireReason(t, e.st, "a known scope", text, scopes.ModelDeploy, store.Allowed)

	saved, err := e.st.SaveApp(t.Context(), Admin, got, "Risk EU", scopes.NewSet(scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(saved.Retired, []string{retired}) {
		t.Errorf("after SaveApp the app's retired scopes are %q", saved.Retired)
	}
	if err := json.Unmarshal(rawGet(t, e.st.Engine(), store.TableApps, itob(app.ID)), &rec); err != nil {
		t.Fatal(err)
	}
	if ids := rec["scopes"].([]any); !slices.Contains(ids, any(retired)) || !slices.Contains(ids, any(string(scopes.ModelExport))) {
		t.Errorf("the saved record holds scopes %v", ids)
	}
	requireReason(t, e.st, "after saving", text, retired, store.UnknownScope)
	requireReason(t, e.st, "after saving", text, scopes.ModelExport, store.Allowed)
	requireReason(t, e.st, "after saving", text, scopes.ModelDeploy, store.ScopeNotGranted)
	// A save that changes nothing known leaves it be, and so does a rename.
	if again, err := e.st.SaveApp(t.Context(), Admin, saved, "Risk EU", saved.Scopes); err != nil || again.Revision != saved.Revision {
		t.Errorf("a save without change = %+v, %v", again, err)
	}
	if err := e.st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

var atRestCases = []testCase{
	{"NoKeyTextInAnyTable", testNoKeyTextAtRest},
}

// Look for any key's text, or its secret part, in every table of the
// engine after keys are created, rolled (at once and with a grace period)
// and deleted (alone and with their app), and in the audit trail as
// exported: only SHA-256 digests and hints may be there.
func testNoKeyTextAtRest(t *testing.T, e *env) {
	var texts []string
	for i, name := range []string{"Payments", "Risk", "Support"} {
		app := e.app(t.Context(), name, scopes.Full())
		for k := range 3 {
			text, _ := e.key(t.Context(), app.ID, string(rune('A'+i))+string(rune('0'+k)))
			texts = append(texts, text)
		}
	}
	if _, _, err := e.st.CreateKeyWith(t.Context(), Admin, 1, "expiring", store.KeyOptions{ExpiresIn: time.Hour}); err != nil {
		t.Fatal(err)
	}
	apps, _ := e.st.Apps(t.Context())
	keys, _ := e.st.Keys(t.Context(), apps[0].ID)
	if err := e.st.DeleteKey(t.Context(), Admin, keys[1].ID); err != nil {
		t.Fatal(err)
	}
	for i, grace := range map[int]time.Duration{0: 0, 2: time.Hour} {
		text, _, _, err := e.st.RollKey(t.Context(), Admin, keys[i].ID, grace)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, text)
		requireReason(t, e.st, "use", text, scopes.ModelDeploy, store.Allowed)
	}
	if err := e.st.DeleteApp(t.Context(), Admin, apps[1].ID); err != nil {
		t.Fatal(err)
	}
	e.st.Maintain(t.Context())
	events, _ := e.st.Audit(t.Context())
	export, _ := json.MarshalIndent(events, "", "  ")

	look := func(where string, data []byte) {
		for i, text := range texts {
			secret := Secret(text)
			for form, needle := range map[string]string{
				"text":           text,
				"secret":         secret,
				"secret's start": secret[:16],
				"secret's end":   secret[len(secret)-16:],
				"text in base64": base64.StdEncoding.EncodeToString([]byte(text)),
				"text in hex":    hex.EncodeToString([]byte(text)),
			} {
				if bytes.Contains(data, []byte(needle)) {
					t.Errorf("%s holds key %d's %s", where, i, form)
				}
			}
		}
	}
	digests := 0
	for pass := range 2 {
		st := e.st
		if pass == 1 {
			st = e.reopen() // and after Close wrote what it had
		}
		err := st.Engine().Read(ctx, func(snap store.Snapshot) error {
			for _, tb := range store.Tables {
				err := snap.Scan(tb, nil, store.ScanOptions{}, func(k, v []byte) error {
					look("table "+string(tb), k)
					look("table "+string(tb), v)
					return nil
				})
				if err != nil {
					return err
				}
			}
			for _, text := range texts {
				d := sha256.Sum256([]byte(text))
				if v, _ := snap.Get(store.TableDigests, d[:]); v != nil {
					digests++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	look("the audit export", export)
	// The digests and hints are there: the test looks where keys would be.
	if digests == 0 || !bytes.Contains(export, []byte("aps_…"+texts[0][len(texts[0])-4:])) {
		t.Error("neither digests nor hints found: the test is not looking where keys are")
	}
}

var checkCases = []testCase{
	{"FindsDamage", testCheckFindsDamage},
}

// Check reads every record and finds what does not hold together; a store
// does not open on such a database.
func testCheckFindsDamage(t *testing.T, e *env) {
	for _, tt := range []struct {
		name   string
		damage func(b *store.Batch, app store.App, key store.Key, text string)
		says   string
	}{
		{"a lost digest entry", func(b *store.Batch, _ store.App, _ store.Key, text string) {
			d := sha256.Sum256([]byte(text))
			b.Delete(store.TableDigests, d[:])
		}, "has no entry in the digest index"},
		{"a digest entry pointing at another key", func(b *store.Batch, app store.App, key store.Key, _ string) {
			stray := sha256.Sum256([]byte("not a key"))
			b.Put(store.TableDigests, stray[:], append(itob(app.ID), itob(key.ID)...))
		}, "which has another digest"},
		{"a lost name entry", func(b *store.Batch, _ store.App, _ store.Key, _ string) {
			b.Delete(store.TableNames, []byte("risk"))
		}, "has no entry in the name index"},
		{"a hole in the audit trail", func(b *store.Batch, _ store.App, _ store.Key, _ string) {
			b.Delete(store.TableAudit, itob(2))
		}, "audit trail jumps from 1 to 3"},
		{"a lost key", func(b *store.Batch, app store.App, key store.Key, _ string) {
			b.Delete(store.TableKeys, append(itob(app.ID), itob(key.ID)...))
		}, "counts 2 keys but has 1"},
		{"a garbled record", func(b *store.Batch, app store.App, _ store.Key, _ string) {
			b.Put(store.TableApps, itob(app.ID), []byte(`{"id":1,`))
		}, "damaged record"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, e.h)
			app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
			text, key := e.key(t.Context(), app.ID, "ci")
			e.key(t.Context(), app.ID, "cd")
			e.app(t.Context(), "Other", scopes.Full())
			if err := e.st.Check(t.Context()); err != nil {
				t.Fatalf("before the damage: %v", err)
			}
			var b store.Batch
			tt.damage(&b, app, key, text)
			commit(t, e.st.Engine(), &b)
			err := e.st.Check(t.Context())
			var de *store.DamageError
			if !errors.Is(err, store.ErrDamaged) || !errors.As(err, &de) || !strings.Contains(err.Error(), tt.says) ||
				!strings.Contains(err.Error(), e.st.Name()) {
				t.Fatalf("Check = %v, want damage that says %q", err, tt.says)
			}
			e.st.Close()
			st, err := store.New(e.open(t))
			if err == nil {
				st.Close()
				t.Fatal("a store opened the damaged database")
			}
			if !errors.Is(err, store.ErrDamaged) {
				t.Errorf("open = %v, want ErrDamaged", err)
			}
		})
	}
}

// downgrade makes the test's database one the previous version (schema 2)
// could have written: no state hash with the head, no state or marks in
// the events, the chain computed without them.
func downgrade(t *testing.T, eng store.Engine) {
	t.Helper()
	b := &store.Batch{}
	var head struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	err := eng.Read(ctx, func(snap store.Snapshot) error {
		return snap.Scan(store.TableAudit, nil, store.ScanOptions{}, func(k, v []byte) error {
			var ev store.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return err
			}
			ev.State, ev.Records = "", nil
			ev.Hash = store.ChainHash(head.Hash, ev)
			head.Seq, head.Hash = ev.Seq, ev.Hash
			raw, err := json.Marshal(ev)
			b.Put(store.TableAudit, bytes.Clone(k), raw)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(head)
	b.Put(store.TableMeta, []byte("audit.head"), raw)
	b.Delete(store.TableMeta, []byte("audit.state"))
	b.Put(store.TableMeta, schemaKey, []byte(store.SchemaV2))
	commit(t, eng, b)
}

// A database of schema 2 is read as it is by a reader, and upgraded by a
// writer: its state hash computed once, the trail left as it was.
func testUpgradeFromSchema2(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, _ := e.key(t.Context(), app.ID, "ci")
	e.app(t.Context(), "Support", scopes.NewSet(scopes.GuardrailDeploy))
	downgrade(t, e.st.Engine())
	e.st.Close()

	ro, err := store.New(e.open(t), store.ReadOnly(), store.WithClock(e.clock.Now))
	if err != nil {
		t.Fatalf("a reader of schema 2: %v", err)
	}
	old, err := ro.VerifyAudit(t.Context())
	if err != nil || old.Seq != 3 || old.State != "" {
		t.Fatalf("a reader of schema 2 sees the head %+v, %v", old, err)
	}
	if err := ro.Check(t.Context()); err != nil {
		t.Fatalf("a reader's check of schema 2: %v", err)
	}
	requireReason(t, ro, "a reader of schema 2", text, scopes.ModelDeploy, store.Allowed)
	ro.Close()
	eng := e.open(t)
	v := rawGet(t, eng, store.TableMeta, schemaKey)
	eng.Close()
	if string(v) != store.SchemaV2 {
		t.Fatalf("a reader left schema %q", v)
	}

	st := e.reopen()
	head, err := st.VerifyAuditExtends(t.Context(), old)
	if err != nil || head.Seq != old.Seq || head.Hash != old.Hash || len(head.State) != 64 {
		t.Fatalf("after the upgrade the head is %+v, %v; want %s with a state", head, err, old)
	}
	requireReason(t, st, "after the upgrade", text, scopes.ModelDeploy, store.Allowed)
	if err := st.CheckRecords(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.key(t.Context(), app.ID, "cd")
	requireStateKept(t, st, "the first change after the upgrade")
}
