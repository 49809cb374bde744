package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

// A bulk load into a file, in changes of thousands of records, leaves the
// very events, in the same order, that the same apps and keys made one by
// one leave (on a clock that does not move, their times, states and hashes
// too), and a valid chain.
func TestBulkLoadIsOneByOne(t *testing.T) {
	ctx := context.Background()
	at := storetest.Epoch
	open := func(name string, small bool) *store.Store {
		e, err := Open(filepath.Join(t.TempDir(), name), Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		var eng store.Engine = e
		if small {
			eng = smallChanges{e} // many large changes from a few hundred apps
		}
		st, err := store.New(eng, store.WithMaintenance(0), store.WithClock(func() time.Time { return at }),
			store.WithRandom(storetest.Random(5)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	var specs []store.AppSpec
	for i := range 150 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy, scopes.ID(scopes.All()[i%10].ID)),
			Keys: seqNames(i % 13)})
	}
	bulk := open("bulk.db", true)
	if n, err := bulk.CreateApps(ctx, admin, specs); err != nil || n != len(specs) {
		t.Fatalf("CreateApps = %d, %v", n, err)
	}
	one := open("one.db", false)
	for _, sp := range specs {
		app, err := one.CreateApp(ctx, admin, sp.Name, sp.Scopes)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range sp.Keys {
			if _, _, err := one.CreateKey(ctx, admin, app.ID, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	bulkEvents, err := bulk.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oneEvents, err := one.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bulkEvents) != len(oneEvents) {
		t.Fatalf("%d events in bulk, %d one by one", len(bulkEvents), len(oneEvents))
	}
	for i := range bulkEvents {
		if !reflect.DeepEqual(bulkEvents[i], oneEvents[i]) {
			t.Fatalf("event %d:\nbulk       %+v\none by one %+v", bulkEvents[i].Seq, bulkEvents[i], oneEvents[i])
		}
	}
	for _, st := range []*store.Store{bulk, one} {
		if _, err := st.VerifyAudit(ctx); err != nil {
			t.Error(err)
		}
		if err := st.Check(ctx); err != nil {
			t.Error(err)
		}
	}
}

// smallChanges is a file engine that takes changes of 500 operations.
type smallChanges struct{ *Engine }

func (smallChanges) BatchLimits() (ops, bytes int) { return 500, 1 << 20 }

// A spec that fails deep in a large change: the apps before it are made,
// in large changes still, and the count points at it.
func TestBulkLoadFailureDeepInAChange(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	var specs []store.AppSpec
	for i := range 1500 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.Full(), Keys: seqNames(2)})
	}
	specs[1234].Name = "\x1b[2J"
	n, err := st.CreateApps(ctx, admin, specs)
	if !errors.Is(err, store.ErrNameInvalid) || n != 1234 {
		t.Fatalf("CreateApps = %d, %v; want 1234 and ErrNameInvalid", n, err)
	}
	apps, err := st.Apps(ctx)
	if err != nil || len(apps) != 1234 {
		t.Fatalf("%d apps, %v", len(apps), err)
	}
	if err := st.Check(ctx); err != nil {
		t.Error(err)
	}
}
