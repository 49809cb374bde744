package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// failAfter is an engine that refuses commits after n of them, as a
// network that drops mid-copy does.
type failAfter struct {
	store.Engine
	mu sync.Mutex // a copy commits batches side by side
	n  int
}

var errCut = errors.New("connection lost")

// noClose keeps an engine open when a store that failed to open closes it.
type noClose struct{ store.Engine }

func (noClose) Close() error { return nil }

func (f *failAfter) Commit(ctx context.Context, b *store.Batch) (uint64, error) {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return 0, errCut
	}
	f.n--
	f.mu.Unlock()
	return f.Engine.Commit(ctx, b)
}

// TestCopyResumesAndChecks copies a database with many apps, keys and
// audit events to an empty engine, cut short and resumed; the copy is
// checked, answers every key like the source, and a target holding other
// data is refused.
func TestCopyResumesAndChecks(t *testing.T) {
	src := store.NewMemory()
	st, err := store.New(src, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	admin := store.Actor{Name: "amara", Role: store.Admin}
	var specs []store.AppSpec
	for i := range 60 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("app %02d", i), Scopes: scopes.NewSet(scopes.ModelDeploy), Keys: []string{"a", "b"}})
	}
	if _, err := st.CreateApps(t.Context(), admin, specs); err != nil {
		t.Fatal(err)
	}
	app, _ := st.CreateApp(t.Context(), admin, "live", scopes.NewSet(scopes.ModelExport))
	key, _, _ := st.CreateKey(t.Context(), admin, app.ID, "prod")
	st.Verify(key, scopes.ModelExport, netip.Addr{}) // a use, written at Close... the copy takes the source as it is

	dst := store.NewMemory()
	_, err = store.Copy(context.Background(), src, &failAfter{Engine: dst, n: 3}, nil)
	if !errors.Is(err, errCut) {
		t.Fatalf("cut copy: %v", err)
	}
	if _, err := store.New(noClose{dst}, store.ReadOnly()); !errors.Is(err, store.ErrNotDatabase) {
		t.Fatalf("a copy cut short must not open as a database: %v", err)
	}
	rep, err := store.Copy(context.Background(), src, dst, nil)
	if err != nil || !rep.Resumed || rep.Head != 182 {
		t.Fatalf("resumed copy: %+v %v", rep, err)
	}
	cp, err := store.New(dst, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if d := cp.Verify(key, scopes.ModelExport, netip.Addr{}); !d.Allowed {
		t.Fatalf("the copy refuses a live key: %+v", d)
	}
	if err := cp.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if head, err := cp.VerifyAudit(t.Context()); err != nil || head.Seq != 182 {
		t.Fatalf("audit chain of the copy: %v %v", head, err)
	}
	if _, err := store.Copy(context.Background(), src, dst, nil); !errors.Is(err, store.ErrTargetInUse) {
		t.Fatalf("copy onto a database: %v", err)
	}
	st.Close()
}
