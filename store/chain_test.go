package store_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// chainFixture makes a store with five audited changes on eng.
func chainFixture(t *testing.T, eng store.Engine) *store.Store {
	t.Helper()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	st, err := store.New(eng, store.WithClock(func() time.Time { now = now.Add(time.Second); return now }),
		store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, err := st.CreateApp(t.Context(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKey(t.Context(), admin, app.ID, "prod"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveApp(t.Context(), admin, app, "Risk & Compliance", app.Scopes.With(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKey(t.Context(), admin, app.ID, "staging"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteApp(t.Context(), admin, app.ID); err != nil {
		t.Fatal(err)
	}
	return st
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// rawEvent reads audit event n as the engine holds it.
func rawEvent(t *testing.T, eng store.Engine, n uint64) map[string]any {
	t.Helper()
	var ev map[string]any
	err := eng.Read(context.Background(), func(s store.Snapshot) error {
		v, err := s.Get(store.TableAudit, seqKey(n))
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func putRaw(t *testing.T, eng store.Engine, b *store.Batch) {
	t.Helper()
	if _, err := eng.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// TestAuditChainCatchesTampering alters, removes and inserts audit records
// directly in the engine, behind the store's back, and sees VerifyAudit and
// Check name the first event where the chain breaks.
func TestAuditChainCatchesTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, eng store.Engine)
		seq    uint64
		reason string
	}{
		{"altered", func(t *testing.T, eng store.Engine) {
			ev := rawEvent(t, eng, 3)
			ev["actor"] = "mallory"
			v, _ := json.Marshal(ev)
			b := &store.Batch{}
			b.Put(store.TableAudit, seqKey(3), v)
			putRaw(t, eng, b)
		}, 3, "altered"},
		{"removed and renumbered", func(t *testing.T, eng store.Engine) {
			b := &store.Batch{}
			for n := uint64(2); n <= 4; n++ {
				ev := rawEvent(t, eng, n+1)
				ev["seq"] = n
				v, _ := json.Marshal(ev)
				b.Put(store.TableAudit, seqKey(n), v)
			}
			b.Delete(store.TableAudit, seqKey(5))
			putRaw(t, eng, b)
		}, 2, "altered, or an event before it was removed"},
		{"removed, leaving a hole", func(t *testing.T, eng store.Engine) {
			b := &store.Batch{}
			b.Delete(store.TableAudit, seqKey(2))
			putRaw(t, eng, b)
		}, 2, "removed or renumbered"},
		{"inserted", func(t *testing.T, eng store.Engine) {
			b := &store.Batch{}
			for n := uint64(5); n >= 3; n-- {
				v := rawEvent(t, eng, n)
				v["seq"] = n + 1
				raw, _ := json.Marshal(v)
				b.Put(store.TableAudit, seqKey(n+1), raw)
			}
			fake := rawEvent(t, eng, 2)
			fake["seq"], fake["actor"] = 3, "mallory"
			raw, _ := json.Marshal(fake)
			b.Put(store.TableAudit, seqKey(3), raw)
			putRaw(t, eng, b)
		}, 3, "inserted"},
		{"tail cut off", func(t *testing.T, eng store.Engine) {
			b := &store.Batch{}
			b.Delete(store.TableAudit, seqKey(5))
			putRaw(t, eng, b)
		}, 5, "removed from the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := store.NewMemory()
			st := chainFixture(t, eng)
			defer st.Close()
			head, err := st.VerifyAudit(t.Context())
			if err != nil || head.Seq != 5 || len(head.Hash) != 64 {
				t.Fatalf("before tampering: %v, %v", head, err)
			}
			tc.tamper(t, eng)
			_, err = st.VerifyAudit(t.Context())
			var ce *store.ChainError
			if !errors.As(err, &ce) || ce.Seq != tc.seq || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("VerifyAudit: %v; want the chain broken at event %d (%s)", err, tc.seq, tc.reason)
			}
			if err := st.Check(t.Context()); !errors.Is(err, store.ErrDamaged) {
				t.Fatalf("Check: %v, want ErrDamaged", err)
			}
		})
	}
}

// TestCanonicalEncoding pins the documented encoding: one line per
// non-empty field in JSON order, name, byte length, value; no hash.
func TestCanonicalEncoding(t *testing.T) {
	ev := store.Event{Seq: 7, At: time.Date(2026, 12, 1, 9, 0, 1, 500, time.UTC), Actor: "amara", Role: store.Admin,
		Action: store.ActionAppUpdate, AppID: 3, AppName: "Risk & Compliance", NameBefore: "Risk",
		ScopesBefore: []string{"model:deploy"}, ScopesAfter: []string{"model:deploy", "model:export"}, Hash: "ignored"}
	want := "seq 1 7\nat 28 2026-12-01T09:00:01.0000005Z\nactor 5 amara\nrole 5 admin\naction 10 app.update\n" +
		"app_id 1 3\napp 17 Risk & Compliance\nname_before 4 Risk\nscopes_before 12 model:deploy\n" +
		"scopes_after 25 model:deploy,model:export\n"
	if got := string(store.Canonical(ev)); got != want {
		t.Fatalf("Canonical:\n%s\nwant:\n%s", got, want)
	}
	first := store.ChainHash("", ev)
	if first == store.ChainHash(first, ev) || len(first) != 64 {
		t.Fatal("a hash must depend on its predecessor")
	}

	// Schema 4's members: a key's address list, a request's number and
	// grant, who asked, and the policy before and after as compact JSON,
	// its lifetimes by name in order.
	ev = store.Event{Seq: 9, At: time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC), Actor: "bo", Role: store.Admin,
		Origin: "ssh 10.0.0.2 SHA256:bo", Action: store.ActionApprovalApprove, AppID: 2, AppName: "Support",
		ScopesBefore: []string{"model:export"}, ScopesAfter: []string{"model:export", "guardrail:deploy"},
		AllowFrom: []string{"10.0.0.0/8", "2001:db8::/32"}, Approval: 4, Grant: []string{"guardrail:deploy"},
		RequestedBy: "ada", RequestedKey: "SHA256:ada",
		PolicyBefore: &store.PolicyInfo{ApprovalWindow: "24h"},
		PolicyAfter: &store.PolicyInfo{MaxLifetime: map[string]string{"model:deploy": "30d", "*": "365d"},
			Approval: []string{"guardrail:deploy"}, ApprovalWindow: "24h"},
		Note: "a note"}
	want = "seq 1 9\nat 20 2026-12-09T10:00:00Z\nactor 2 bo\nrole 5 admin\norigin 22 ssh 10.0.0.2 SHA256:bo\n" +
		"action 16 approval.approve\napp_id 1 2\napp 7 Support\nscopes_before 12 model:export\n" +
		"scopes_after 29 model:export,guardrail:deploy\nallow_from 24 10.0.0.0/8,2001:db8::/32\napproval 1 4\n" +
		"grant 16 guardrail:deploy\nrequested_by 3 ada\nrequested_key 10 SHA256:ada\n" +
		"policy_before 25 {\"approval_window\":\"24h\"}\n" +
		"policy_after 106 {\"max_lifetime\":{\"*\":\"365d\",\"model:deploy\":\"30d\"},\"approval\":[\"guardrail:deploy\"],\"approval_window\":\"24h\"}\n" +
		"note 6 a note\n"
	if got := string(store.Canonical(ev)); got != want {
		t.Fatalf("Canonical:\n%s\nwant:\n%s", got, want)
	}
}

// FuzzCanonical: the encoding never panics, and two events with different
// content never share one.
func FuzzCanonical(f *testing.F) {
	f.Add(uint64(1), "amara", "app", "x", "a\nb 3 c")
	f.Fuzz(func(t *testing.T, seq uint64, actor, app, key, before string) {
		a := store.Event{Seq: seq, Actor: actor, AppName: app, KeyName: key, NameBefore: before}
		b := a
		b.KeyName += "x"
		if string(store.Canonical(a)) == string(store.Canonical(b)) {
			t.Fatalf("two events, one encoding: %q", store.Canonical(a))
		}
	})
}
