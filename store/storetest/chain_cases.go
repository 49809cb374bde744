package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// The audit trail's hash chain, on every engine: records altered, removed
// or inserted behind the store's back, through the engine itself, are
// named by VerifyAudit and Check.
var chainCases = []testCase{
	{"AlteredRecordNamed", func(t *testing.T, e *env) { testTamper(t, e, tamperAlter, 3, "altered") }},
	{"RemovedRecordNamed", func(t *testing.T, e *env) { testTamper(t, e, tamperRemove, 2, "removed or renumbered") }},
	{"InsertedRecordNamed", func(t *testing.T, e *env) { testTamper(t, e, tamperInsert, 3, "inserted") }},
	{"CutOffTailNamed", func(t *testing.T, e *env) { testTamper(t, e, tamperCut, 5, "removed from the end") }},
}

// auditKey is where audit event n lives.
func auditKey(n uint64) []byte { return itob(n) }

func rawEvent(t *testing.T, eng store.Engine, n uint64) map[string]any {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(rawGet(t, eng, store.TableAudit, auditKey(n)), &ev); err != nil {
		t.Fatalf("audit event %d: %v", n, err)
	}
	return ev
}

func rawPut(t *testing.T, b *store.Batch, n uint64, ev map[string]any) {
	t.Helper()
	v, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	b.Put(store.TableAudit, auditKey(n), v)
}

func tamperAlter(t *testing.T, eng store.Engine) *store.Batch {
	ev := rawEvent(t, eng, 3)
	ev["actor"] = "mallory"
	b := &store.Batch{}
	rawPut(t, b, 3, ev)
	return b
}

func tamperRemove(t *testing.T, eng store.Engine) *store.Batch {
	b := &store.Batch{}
	b.Delete(store.TableAudit, auditKey(2))
	return b
}

func tamperInsert(t *testing.T, eng store.Engine) *store.Batch {
	b := &store.Batch{}
	for n := uint64(5); n >= 3; n-- {
		ev := rawEvent(t, eng, n)
		ev["seq"] = n + 1
		rawPut(t, b, n+1, ev)
	}
	fake := rawEvent(t, eng, 2)
	fake["seq"], fake["actor"] = 3, "mallory"
	rawPut(t, b, 3, fake)
	return b
}

func tamperCut(t *testing.T, eng store.Engine) *store.Batch {
	b := &store.Batch{}
	b.Delete(store.TableAudit, auditKey(5))
	return b
}

// testTamper makes five audited changes, tampers with the trail through
// the engine, and wants the chain broken at event seq for the reason given.
func testTamper(t *testing.T, e *env, tamper func(*testing.T, store.Engine) *store.Batch, seq uint64, reason string) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	e.key(t.Context(), app.ID, "prod")
	if _, err := e.st.SaveApp(t.Context(), Admin, app, "Risk & Compliance", app.Scopes.With(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	e.key(t.Context(), app.ID, "staging")
	if err := e.st.DeleteApp(t.Context(), Admin, app.ID); err != nil {
		t.Fatal(err)
	}
	head, err := e.st.VerifyAudit(t.Context())
	if err != nil || head.Seq != 5 || len(head.Hash) != 64 {
		t.Fatalf("before tampering: %v, %v", head, err)
	}
	commit(t, e.st.Engine(), tamper(t, e.st.Engine()))
	_, err = e.st.VerifyAudit(t.Context())
	var ce *store.ChainError
	if !errors.As(err, &ce) || ce.Seq != seq || !strings.Contains(ce.Reason, reason) {
		t.Fatalf("VerifyAudit: %v; want the chain broken at event %d (%s)", err, seq, reason)
	}
	if err := e.st.Check(t.Context()); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("Check: %v, want ErrDamaged", err)
	}
}
