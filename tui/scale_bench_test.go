package tui

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// The scale benchmarks compare the same operation on a console with few
// apps and one with many, in one run: the reported x-few is how many times
// slower the large console is. The console's cost should follow the screen,
// not the data, so x-few stays near 1 (the bar: ≤ 3 for the first
// frame, ≤ 2 for a keystroke).
const (
	fewApps  = 10
	manyApps = 10_000
	keysPer  = 5 // 50,000 keys among the many apps
)

// scaleStore opens a database with n apps of keysPer keys each, loaded in
// one commit.
func scaleStore(b *testing.B, n int) *store.Store {
	b.Helper()
	st, err := store.New(store.NewMemory(),
		store.WithClock(func() time.Time { return testNow }), store.WithRandom(rand.NewChaCha8([32]byte{9})))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	sets := []scopes.Set{scopes.NewSet(scopes.WorkflowDeploy, scopes.ModelExport), scopes.NewSet(scopes.GuardrailDeploy)}
	specs := make([]store.AppSpec, n)
	for i := range specs {
		keys := make([]string, keysPer)
		for k := range keys {
			keys[k] = fmt.Sprintf("service-%d", k)
		}
		specs[i] = store.AppSpec{Name: fmt.Sprintf("Payments service %05d", i), Scopes: sets[i%2], Keys: keys}
	}
	if _, err := st.CreateApps(b.Context(), testAdmin, specs); err != nil {
		b.Fatal(err)
	}
	return st
}

// benchConsole is a console on st at 120×40, as a person first sees it.
func benchConsole(st *store.Store) *Model {
	m := New(Options{Store: st, Actor: testAdmin, Location: time.UTC, Clipboard: func(string) tea.Cmd { return nil }})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	return m
}

// settled is a console with everything loaded: the background commands of
// its first frame have run.
func settled(b *testing.B, st *store.Store) *Model {
	m := benchConsole(st)
	b.Cleanup(m.Close)
	m.Update(m.c.loadApps()())
	if !m.c.apps.complete || len(m.c.apps.apps) == 0 {
		b.Fatal("the apps did not load")
	}
	return m
}

// compare runs op on the few-apps and the many-apps side in turn, every
// iteration, timing op alone (prepare, untimed, sets up the state op starts
// from), and reports both times and their ratio.
func compare(b *testing.B, prepare func(side int), op func(side int)) {
	var t [2]time.Duration
	for b.Loop() {
		for side := range 2 {
			prepare(side)
			start := time.Now()
			op(side)
			t[side] += time.Since(start)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(t[0])/n, "ns/op-few")
	b.ReportMetric(float64(t[1])/n, "ns/op-many")
	b.ReportMetric(float64(t[1])/float64(t[0]), "x-few")
}

// BenchmarkScale: 10 apps against 10,000 apps with 50,000 keys.
//
//   - first-frame: a console opens and draws its first screen
//   - move: one ↓ or ↑ in the list, Update and View
//   - filter-char: one character typed into the filter, Update and View;
//     "q" matches no app, the worst case, which must scan rather than stop
//     at the first screenful
//   - audit-move: one ↓ or ↑ in the Audit Log (60,000 events against 60)
func BenchmarkScale(b *testing.B) {
	stores := [2]*store.Store{scaleStore(b, fewApps), scaleStore(b, manyApps)}
	var sink int

	b.Run("first-frame", func(b *testing.B) {
		compare(b, func(int) {}, func(side int) {
			m := benchConsole(stores[side])
			sink += len(m.View().Content)
			m.Close()
		})
	})

	b.Run("move", func(b *testing.B) {
		ms := [2]*Model{settled(b, stores[0]), settled(b, stores[1])}
		n := 0
		compare(b, func(int) {}, func(side int) {
			k := "down"
			if n++; n%4 >= 2 {
				k = "up"
			}
			ms[side].Update(keyPress(k))
			sink += len(ms[side].View().Content)
		})
	})

	b.Run("filter-char", func(b *testing.B) {
		ms := [2]*Model{settled(b, stores[0]), settled(b, stores[1])}
		for _, m := range ms {
			m.Update(keyPress("/"))
		}
		compare(b, func(side int) {
			ms[side].Update(keyPress("backspace"))
		}, func(side int) {
			ms[side].Update(keyPress("q"))
			sink += len(ms[side].View().Content)
		})
		if l := ms[1].page.(*appList); l.list.filter.Value() != "q" {
			b.Fatalf("the filter holds %q", l.list.filter.Value())
		}
	})

	b.Run("audit-move", func(b *testing.B) {
		ms := [2]*Model{settled(b, stores[0]), settled(b, stores[1])}
		for _, m := range ms {
			m.Update(keyPress("a"))
			m.Update(m.audit.load(-1)())
		}
		n := 0
		compare(b, func(int) {}, func(side int) {
			k := "down"
			if n++; n%4 >= 2 {
				k = "up"
			}
			ms[side].Update(keyPress(k))
			sink += len(ms[side].View().Content)
		})
	})
	_ = sink
}
