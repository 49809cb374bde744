package storetest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// The state hash, on every engine: each event commits to the apps and keys
// its change left; a record changed behind the store's back is named by
// Check; a database rewritten whole, state and trail and head, is caught
// by a head saved earlier and by a signed head.
var stateCases = []testCase{
	{"KeptByEveryChange", testStateKept},
	{"SilentChangesNamed", testSilentChangesNamed},
	{"ResealCaughtBySavedHead", testResealCaughtBySavedHead},
	{"ResealCaughtBySignedHead", testResealCaughtBySignedHead},
	{"SavedHeadExtended", testSavedHeadExtended},
	{"CheckpointReplayedOnOpen", testCheckpointReplayed},
	{"DamagedCheckpointRefused", testDamagedCheckpoint},
}

// A long trail's state hash is kept as a checkpoint now and then and the
// records' changes since: a store opening replays them, and goes on.
func testCheckpointReplayed(t *testing.T, e *env) {
	var specs []store.AppSpec
	for i := range 300 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy)})
	}
	if _, err := e.st.CreateApps(t.Context(), Admin, specs); err != nil {
		t.Fatal(err)
	}
	if cp := rawGet(t, e.st.Engine(), store.TableMeta, []byte("audit.state")); len(cp) < 8 || btoi(cp[:8]) == 0 {
		t.Fatalf("no checkpoint after 300 events: %x", cp)
	}
	requireStateKept(t, e.st, "300 apps")
	st := e.reopen()
	requireStateKept(t, st, "reopened")
	app, err := st.AppNamed(t.Context(), "App 7")
	if err != nil {
		t.Fatal(err)
	}
	e.key(t.Context(), app.ID, "after")
	requireStateKept(t, st, "a key after reopening")
}

// A checkpoint of the state hash changed behind the store's back fails
// Check, and no change is made on it: the state it would commit to is not
// the trail's.
func testDamagedCheckpoint(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err := e.st.DeleteApp(t.Context(), Admin, app.ID); err != nil { // a range removal writes a checkpoint
		t.Fatal(err)
	}
	cp := rawGet(t, e.st.Engine(), store.TableMeta, []byte("audit.state"))
	if len(cp) < 9 {
		t.Fatalf("no checkpoint: %x", cp)
	}
	cp[len(cp)-1]++
	commit(t, e.st.Engine(), put(store.TableMeta, "audit.state", string(cp)))
	if err := e.st.Check(t.Context()); !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("Check = %v, want the checkpoint named", err)
	}
	st := e.reopen()
	markForeign(st.Engine())
	if _, err := st.CreateApp(t.Context(), Admin, "Next", scopes.NewSet(scopes.ModelDeploy)); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("a change on a damaged checkpoint = %v, want ErrDamaged", err)
	}
}

func btoi(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// requireStateKept fails unless the head commits to the state of the apps
// and keys as they are, the newest event commits to the same, and the
// whole check passes.
func requireStateKept(t *testing.T, st *store.Store, step string) {
	t.Helper()
	var state store.StateHash
	err := st.Engine().Read(ctx, func(snap store.Snapshot) (err error) {
		state, err = store.StateOf(snap)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	head, err := st.Head(t.Context())
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	events, err := st.Audit(t.Context())
	if err != nil || len(events) == 0 {
		t.Fatalf("%s: %d events, %v", step, len(events), err)
	}
	if head.State != state.Sum() || events[0].State != head.State || events[0].Seq != head.Seq {
		t.Fatalf("%s: the head (event %d) commits to state %.12s, its event %d to %.12s; the records are %.12s",
			step, head.Seq, head.State, events[0].Seq, events[0].State, state.Sum())
	}
	if err := st.CheckRecords(t.Context()); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// Every kind of change, alone and in bulk, keeps the state hash.
func testStateKept(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	requireStateKept(t, e.st, "CreateApp")
	_, key := e.key(t.Context(), app.ID, "ci")
	requireStateKept(t, e.st, "CreateKey")
	if _, _, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "month", store.KeyOptions{ExpiresIn: 30 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	requireStateKept(t, e.st, "CreateKeyWith")
	app, err := e.st.SaveApp(t.Context(), Admin, app, "Risk EU", app.Scopes.With(scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	requireStateKept(t, e.st, "SaveApp")
	_, rolled, _, err := e.st.RollKey(t.Context(), Admin, key.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	requireStateKept(t, e.st, "RollKey with a grace period")
	if _, _, _, err := e.st.RollKey(t.Context(), Admin, rolled.ID, 0); err != nil {
		t.Fatal(err)
	}
	requireStateKept(t, e.st, "RollKey at once")
	_, doomed := e.key(t.Context(), app.ID, "doomed")
	if err := e.st.DeleteKey(t.Context(), Admin, doomed.ID); err != nil {
		t.Fatal(err)
	}
	requireStateKept(t, e.st, "DeleteKey")
	large := store.AppSpec{Name: "Large", Scopes: scopes.Full(), Keys: seq(60, "key %d")}
	specs := []store.AppSpec{{Name: "Bulk 1", Scopes: scopes.Full(), Keys: seq(3, "k%d")}, {Name: "Bulk 2", Scopes: scopes.Full()}, large}
	if n, err := e.st.CreateApps(t.Context(), Admin, specs); err != nil || n != len(specs) {
		t.Fatalf("CreateApps = %d, %v", n, err)
	}
	requireStateKept(t, e.st, "CreateApps")
	apps, _ := e.st.Apps(t.Context())
	for _, a := range apps {
		if a.Name == "Large" {
			if err := e.st.DeleteApp(t.Context(), Admin, a.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	requireStateKept(t, e.st, "DeleteApp with its keys")
	if err := e.st.RecordSession(t.Context(), store.ActionSessionLogin, store.SessionInfo{User: "Ada", Role: store.Admin}); err != nil {
		t.Fatal(err)
	}
	requireStateKept(t, e.st, "RecordSession")
	e.clock.Advance(2 * time.Hour)
	if err := e.st.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if events, _ := e.st.Audit(t.Context()); !events[0].Scheduled {
		t.Fatalf("the sweep deleted no rolled key: newest event %+v", events[0])
	}
	requireStateKept(t, e.st, "a rolled key's scheduled deletion")
	requireStateKept(t, e.reopen(), "reopened")
}

// tamper is a change behind the store's back: the batch it commits through
// the engine, and what Check names.
type tamper struct {
	name  string
	batch func(t *testing.T, f *stateFixture) *store.Batch
	says  []string
}

// stateFixture is a database of two apps with keys, as the tampering cases
// start from.
type stateFixture struct {
	eng      store.Engine
	risk     store.App
	ci       store.Key
	support  store.App
	attacker string // a key the attacker holds: valid, never issued
}

func newStateFixture(t *testing.T, e *env) *stateFixture {
	f := &stateFixture{eng: e.st.Engine()}
	f.risk = e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	_, f.ci = e.key(t.Context(), f.risk.ID, "ci")
	f.support = e.app(t.Context(), "Support", scopes.NewSet(scopes.GuardrailDeploy))
	e.key(t.Context(), f.support.ID, "bot")
	f.attacker = KeyText([]byte("an attacker's thirty-two bytes!!"))
	return f
}

// editRecord rewrites one JSON record as edit leaves it.
func (f *stateFixture) editRecord(t *testing.T, b *store.Batch, tb store.Table, key []byte, edit func(map[string]any)) {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal(rawGet(t, f.eng, tb, key), &rec); err != nil {
		t.Fatal(err)
	}
	edit(rec)
	v, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	b.Put(tb, key, v)
}

func place(appID, keyID uint64) []byte { return append(itob(appID), itob(keyID)...) }

// recordTampers are the changes to apps and keys a red team made behind
// the store's back, each with what it takes to pass the structural checks
// (indexes and counts follow), so that only the state hash tells.
var recordTampers = []tamper{
	{"a silent grant", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		f.editRecord(t, b, store.TableApps, itob(f.risk.ID), func(r map[string]any) {
			r["scopes"] = append(r["scopes"].([]any), string(scopes.ModelExport))
		})
		return b
	}, []string{"app 1 was changed without an audit event"}},
	{"a swapped digest", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		d := sha256.Sum256([]byte(f.attacker))
		var old []byte
		f.editRecord(t, b, store.TableKeys, place(f.risk.ID, f.ci.ID), func(r map[string]any) {
			var rec struct {
				Digest []byte `json:"sha256"`
			}
			raw, _ := json.Marshal(r)
			json.Unmarshal(raw, &rec)
			old = rec.Digest
			r["sha256"] = d[:]
		})
		b.Delete(store.TableDigests, old)
		b.Put(store.TableDigests, d[:], place(f.risk.ID, f.ci.ID))
		return b
	}, []string{"key 1 of app 1 was changed without an audit event"}},
	{"an inserted key", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		d := sha256.Sum256([]byte(f.attacker))
		rec, _ := json.Marshal(map[string]any{"id": 9, "app_id": f.risk.ID, "name": "backdoor", "hint": "aps_…" + f.attacker[len(f.attacker)-4:],
			"sha256": d[:], "created_by": "Ada", "created_at": Epoch})
		b.Put(store.TableKeys, place(f.risk.ID, 9), rec)
		b.Put(store.TableDigests, d[:], place(f.risk.ID, 9))
		b.Put(store.TableMeta, []byte("seq.keys"), itob(9))
		f.editRecord(t, b, store.TableApps, itob(f.risk.ID), func(r map[string]any) { r["keys"] = 2.0 })
		return b
	}, []string{"key 9 of app 1 was inserted without an audit event", "app 1 was changed"}},
	{"a deleted key", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		var rec struct {
			Digest []byte `json:"sha256"`
		}
		json.Unmarshal(rawGet(t, f.eng, store.TableKeys, place(f.risk.ID, f.ci.ID)), &rec)
		b.Delete(store.TableKeys, place(f.risk.ID, f.ci.ID))
		b.Delete(store.TableDigests, rec.Digest)
		f.editRecord(t, b, store.TableApps, itob(f.risk.ID), func(r map[string]any) { r["keys"] = 0.0 })
		return b
	}, []string{"key 1 of app 1 was deleted without an audit event"}},
	{"an inserted app", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		rec, _ := json.Marshal(map[string]any{"id": 7, "name": "Shadow", "scopes": []string{"model:export"},
			"created_by": "Ada", "created_at": Epoch, "updated_at": Epoch, "revision": 1, "keys": 0})
		b.Put(store.TableApps, itob(7), rec)
		b.Put(store.TableNames, []byte("shadow"), itob(7))
		b.Put(store.TableMeta, []byte("seq.apps"), itob(7))
		return b
	}, []string{"app 7 was inserted without an audit event"}},
	{"a policy slipped in", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		rec, _ := json.Marshal(map[string]any{"max_lifetime": map[string]int{"*": 3600}, "revision": 1})
		b.Put(store.TableMeta, []byte("policy"), rec)
		return b
	}, []string{"policy was inserted without an audit event"}},
	{"an approval request slipped in", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		rec, _ := json.Marshal(map[string]any{"id": 4, "kind": "grant", "app_id": f.risk.ID, "app": "Risk",
			"grant": []string{"guardrail:deploy"}, "requested_by": "Mallory", "requested_at": Epoch, "expires_at": Epoch.Add(time.Hour)})
		b.Put(store.TableApprovals, itob(4), rec)
		b.Put(store.TableMeta, []byte("seq.approvals"), itob(4))
		return b
	}, []string{"approval 4 was inserted without an audit event"}},
	{"a deleted app", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		b.Delete(store.TableApps, itob(f.support.ID))
		b.Delete(store.TableNames, []byte("support"))
		b.DeletePrefix(store.TableKeys, itob(f.support.ID))
		return b
	}, []string{"app 2 was deleted without an audit event"}},
}

// A record changed behind the store's back, the indexes made to agree, is
// named by Check, though the chain still holds.
func testSilentChangesNamed(t *testing.T, e *env) {
	for _, tt := range recordTampers {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, e.h)
			f := newStateFixture(t, e)
			commit(t, f.eng, tt.batch(t, f))
			if _, err := e.st.VerifyAudit(t.Context()); err != nil {
				t.Fatalf("the chain alone: %v", err)
			}
			err := e.st.Check(t.Context())
			if !errors.Is(err, store.ErrDamaged) {
				t.Fatalf("Check = %v, want damage", err)
			}
			for _, says := range tt.says {
				if !strings.Contains(err.Error(), says) {
					t.Errorf("Check = %v\nwant it to say %q", err, says)
				}
			}
			if tt.name == "a swapped digest" {
				// What the red team saw: the attacker's key works, and
				// nothing but the state hash says why.
				st := e.reopen()
				markForeign(st.Engine())
				requireReason(t, st, "the attacker's key", f.attacker, scopes.ModelDeploy, store.Allowed)
			}
		})
	}
}

// trailTampers are the edits of the trail a red team made, which the
// chain catches as they are (see chainCases), here for a forger who then
// reseals the database.
var trailTampers = []tamper{
	{"a changed event", func(t *testing.T, f *stateFixture) *store.Batch { return tamperAlter(t, f.eng) }, nil},
	{"a deleted event", func(t *testing.T, f *stateFixture) *store.Batch { return renumber(t, f.eng, 2, -1) }, nil},
	{"an inserted event", func(t *testing.T, f *stateFixture) *store.Batch { return renumber(t, f.eng, 2, +1) }, nil},
	{"a truncated trail", func(t *testing.T, f *stateFixture) *store.Batch {
		b := &store.Batch{}
		b.Delete(store.TableAudit, auditKey(4))
		return b
	}, nil},
}

// renumber deletes event at (by -1) or inserts a copy of it under another
// actor (by +1), moving every later event's number so the trail has no
// hole.
func renumber(t *testing.T, eng store.Engine, at uint64, by int) *store.Batch {
	b := &store.Batch{}
	var events []map[string]any
	for n := uint64(1); ; n++ {
		if rawGet(t, eng, store.TableAudit, auditKey(n)) == nil {
			break
		}
		events = append(events, rawEvent(t, eng, n))
	}
	last := uint64(len(events))
	if by < 0 {
		events = append(events[:at-1], events[at:]...)
		b.Delete(store.TableAudit, auditKey(last))
	} else {
		fake := map[string]any{}
		for k, v := range events[at-1] {
			fake[k] = v
		}
		fake["actor"] = "mallory"
		events = append(events[:at], append([]map[string]any{fake}, events[at:]...)...)
	}
	for i, ev := range events {
		if uint64(i+1) >= at {
			ev["seq"] = i + 1
			rawPut(t, b, uint64(i+1), ev)
		}
	}
	return b
}

// allTampers is the red team's whole table.
func allTampers() []tamper { return append(append([]tamper(nil), trailTampers...), recordTampers...) }

// A forger who edits the trail or the records and then reseals everything
// passes Check, but not a head saved before: the trail no longer holds it.
func testResealCaughtBySavedHead(t *testing.T, e *env) {
	for _, tt := range allTampers() {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, e.h)
			f := newStateFixture(t, e)
			saved, err := e.st.VerifyAudit(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			kept, err := store.ParseAuditHead(saved.String())
			if err != nil || kept.Seq != saved.Seq || kept.Hash != saved.Hash {
				t.Fatalf("ParseAuditHead(%q) = %v, %v", saved, kept, err)
			}
			commit(t, f.eng, tt.batch(t, f))
			Reseal(t, f.eng)
			if err := e.st.Check(t.Context()); err != nil {
				t.Fatalf("the resealed database fails Check: the forgery is not the one a capable forger makes: %v", err)
			}
			_, err = e.st.VerifyAuditExtends(t.Context(), kept)
			var xe *store.ExtendError
			if !errors.As(err, &xe) || !errors.Is(err, store.ErrDamaged) || xe.Want != kept {
				t.Fatalf("VerifyAuditExtends(%s) = %v, want an ExtendError", kept, err)
			}
		})
	}
}

// signingKey is the test's audit signing key; forger's is another.
var (
	signingKey = ed25519.NewKeyFromSeed([]byte("apiscopes test audit signing key"))
	forgersKey = ed25519.NewKeyFromSeed([]byte("a forger's own ed25519 key seed!"))
)

// A forger without the signing key who edits and reseals is caught by the
// head signed before: by its hash without the public key, and by the key
// when they also re-sign or remove the signed heads.
func testResealCaughtBySignedHead(t *testing.T, e *env) {
	pub := signingKey.Public().(ed25519.PublicKey)
	for _, tt := range allTampers() {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, e.h)
			f := newStateFixture(t, e)
			signed, err := e.st.SignHead(t.Context(), signingKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.st.Check(t.Context(), store.WithAuditKeys(pub)); err != nil {
				t.Fatalf("a sound database with its head signed: %v", err)
			}
			commit(t, f.eng, tt.batch(t, f))
			Reseal(t, f.eng)
			requireDamage(t, e.st, "resealed", "the head signed at", nil)
			requireDamage(t, e.st, "resealed", "the head signed at", []ed25519.PublicKey{pub})

			// The forger signs the forged head with a key of their own, in
			// place of the head signed before.
			head, err := e.st.Head(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			forged := store.SignedHead{Seq: head.Seq, Hash: head.Hash, State: head.State, At: signed.At.Add(time.Minute),
				Key: store.KeyFingerprint(forgersKey.Public().(ed25519.PublicKey))}
			forged.Sig = ed25519.Sign(forgersKey, forged.Message())
			b := &store.Batch{}
			if signed.Seq != forged.Seq {
				b.Delete(store.TableSigned, itob(signed.Seq))
			}
			raw, _ := json.Marshal(forged)
			b.Put(store.TableSigned, itob(forged.Seq), raw)
			commit(t, f.eng, b)
			if err := e.st.Check(t.Context()); err != nil {
				t.Fatalf("without the public key a forged signature passes for what it is, a signature: %v", err)
			}
			requireDamage(t, e.st, "signed by the forger", "not by a key given", []ed25519.PublicKey{pub})

			// Or passes the signing key's fingerprint off as theirs.
			forged.Key = signed.Key
			raw, _ = json.Marshal(forged)
			commit(t, f.eng, put(store.TableSigned, string(itob(forged.Seq)), string(raw)))
			requireDamage(t, e.st, "signed by the forger as the signing key", "does not hold", []ed25519.PublicKey{pub})

			// Or removes every signed head.
			b = &store.Batch{}
			b.DeletePrefix(store.TableSigned, nil)
			commit(t, f.eng, b)
			requireDamage(t, e.st, "signed heads removed", "no signed audit head", []ed25519.PublicKey{pub})
		})
	}
}

func requireDamage(t *testing.T, st *store.Store, step, says string, keys []ed25519.PublicKey) {
	t.Helper()
	err := st.Check(t.Context(), store.WithAuditKeys(keys...))
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), says) {
		t.Fatalf("%s: Check with %d public keys = %v\nwant damage that says %q", step, len(keys), err, says)
	}
}

// A trail that goes on after a saved head, or a signed one, extends it:
// only a trail rewritten at or before it fails.
func testSavedHeadExtended(t *testing.T, e *env) {
	if _, err := e.st.VerifyAuditExtends(t.Context(), store.AuditHead{}); err != nil {
		t.Fatalf("an empty trail against the empty head: %v", err)
	}
	f := newStateFixture(t, e)
	saved, err := e.st.VerifyAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.SignHead(t.Context(), signingKey); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteApp(t.Context(), Admin, f.support.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.SignHead(t.Context(), signingKey); err != nil {
		t.Fatal(err)
	}
	head, err := e.st.VerifyAuditExtends(t.Context(), saved)
	if err != nil || head.Seq != saved.Seq+1 {
		t.Fatalf("VerifyAuditExtends(%s) = %s, %v; want the head one event on", saved, head, err)
	}
	if err := e.st.Check(t.Context(), store.WithAuditKeys(signingKey.Public().(ed25519.PublicKey))); err != nil {
		t.Fatalf("two signed heads, a change between: %v", err)
	}
	newest, ok, err := e.st.NewestSignedHead(t.Context())
	if err != nil || !ok || newest.Seq != head.Seq || newest.Hash != head.Hash || newest.State != head.State {
		t.Fatalf("NewestSignedHead = %+v, %v, %v; want the head %s", newest, ok, err, head)
	}
	ahead := store.AuditHead{Seq: head.Seq + 1, Hash: head.Hash}
	var xe *store.ExtendError
	if _, err := e.st.VerifyAuditExtends(t.Context(), ahead); !errors.As(err, &xe) || xe.Found != "" ||
		!strings.Contains(err.Error(), "events were removed") {
		t.Fatalf("a head beyond the trail's: %v", err)
	}
}
