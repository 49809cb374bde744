package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"apiscopes/scopes"
)

// TestCreateApps: a bulk load is what the same apps and keys made one by
// one would be, audit included, and all or nothing.
func TestCreateApps(t *testing.T) {
	s := newTestStore(t)
	specs := []AppSpec{
		{Name: "Payments", Scopes: scopes.NewSet(scopes.WorkflowDeploy), Keys: []string{"a", "b"}},
		{Name: "lending", Scopes: scopes.NewSet(scopes.ModelExport)},
	}
	if err := s.CreateApps(admin, specs); err != nil {
		t.Fatal(err)
	}
	apps, err := s.Apps()
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0].Name != "lending" || apps[1].Keys != 2 || apps[1].CreatedBy != admin.Name {
		t.Fatalf("apps = %+v", apps)
	}
	keys, _ := s.Keys(apps[1].ID)
	if len(keys) != 2 || keys[0].Name != "a" || len(keys[0].Hint) == 0 {
		t.Fatalf("keys = %+v", keys)
	}
	evs, _ := s.Audit()
	var actions []Action
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	want := []Action{ActionAppCreate, ActionKeyCreate, ActionKeyCreate, ActionAppCreate}
	if !slices.Equal(actions, want) {
		t.Errorf("audit = %v, want %v", actions, want)
	}

	for _, bad := range [][]AppSpec{
		{{Name: "New", Scopes: scopes.NewSet(scopes.ModelExport)}, {Name: "PAYMENTS", Scopes: scopes.NewSet(scopes.ModelExport)}},
		{{Name: "New", Scopes: scopes.NewSet(scopes.ModelExport), Keys: []string{"k", "K"}}},
		{{Name: "New"}},
		{{Name: "\x1b[2J", Scopes: scopes.NewSet(scopes.ModelExport)}},
	} {
		if err := s.CreateApps(admin, bad); err == nil {
			t.Errorf("CreateApps(%+v) succeeded", bad)
		}
	}
	if err := s.CreateApps(Actor{Name: "v", Role: Viewer}, specs[:1]); !errors.Is(err, ErrPermission) {
		t.Errorf("viewer's bulk load: %v", err)
	}
	if after, _ := s.Apps(); len(after) != 2 {
		t.Errorf("a refused bulk load left %d apps", len(after))
	}
}

// TestFirstApps reads the start of the list order, whatever the order of
// creation.
func TestFirstApps(t *testing.T) {
	s := newTestStore(t)
	var specs []AppSpec
	for i := range 30 {
		specs = append(specs, AppSpec{Name: fmt.Sprintf("App %02d", 29-i), Scopes: scopes.NewSet(scopes.ModelExport)})
	}
	if err := s.CreateApps(admin, specs); err != nil {
		t.Fatal(err)
	}
	all, _ := s.Apps()
	for _, n := range []int{0, 1, 10, 30, 40} {
		got, err := s.FirstApps(n)
		if err != nil {
			t.Fatal(err)
		}
		if want := all[:min(n, 30)]; !slices.EqualFunc(got, want, func(a, b App) bool { return a.ID == b.ID }) {
			t.Errorf("FirstApps(%d) differs from the start of Apps", n)
		}
	}
}

// TestEachEvent walks newest first and stops on ErrStop without an error.
func TestEachEvent(t *testing.T) {
	s := newTestStore(t)
	for i := range 5 {
		mustCreateApp(t, s, fmt.Sprintf("App %d", i), scopes.NewSet(scopes.ModelExport))
	}
	var seqs []uint64
	err := s.EachEvent(func(ev Event) error {
		if len(seqs) == 3 {
			return ErrStop
		}
		seqs = append(seqs, ev.Seq)
		return nil
	})
	if err != nil || !slices.Equal(seqs, []uint64{5, 4, 3}) {
		t.Errorf("EachEvent = %v, %v", seqs, err)
	}
	boom := errors.New("boom")
	if err := s.EachEvent(func(Event) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("EachEvent's own error = %v", err)
	}
}
