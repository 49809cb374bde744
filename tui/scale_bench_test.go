package tui

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// The scale benchmarks compare the same operation on a console of a small
// database and one of a large one, in one run: the reported x-small is how
// many times slower the large console is. The console's cost should follow
// the screen, not the data, so x-small stays near 1 (the bar: ≤ 3 for the
// first frame against one app, and a keystroke as fast as at 10,000 apps).
//
// The databases are bbolt files made by store.CreateApps, keysPerApp keys an
// app. The large one holds APISCOPES_SCALE_KEYS keys (100,000 unless set:
// 10,000 apps; 1000000 makes 100,000 apps and takes minutes to build), the
// reference one a tenth of its apps. With APISCOPES_SCALE_DIR set, the files
// are kept there and used again by later runs.
const keysPerApp = 10

// scaleKeys is how many keys the large database holds.
func scaleKeys(b *testing.B) int {
	v := os.Getenv("APISCOPES_SCALE_KEYS")
	if v == "" {
		return 100_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10*keysPerApp {
		b.Fatalf("APISCOPES_SCALE_KEYS=%q: want a number of keys, at least %d", v, 10*keysPerApp)
	}
	return n
}

// scaleStore opens a database of n apps with keysPerApp keys each, built
// once in dir (a temporary one unless APISCOPES_SCALE_DIR names one).
func scaleStore(b *testing.B, n int) *store.Store {
	b.Helper()
	dir := os.Getenv("APISCOPES_SCALE_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("console-%d-apps.db", n))
	if _, err := os.Stat(path); err != nil {
		build(b, path, n)
	}
	eng, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.New(eng, store.WithClock(func() time.Time { return testNow }), store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// build makes the database at path: n apps named "Payments service NNNNNN"
// in two alternating sets of scopes, through the bulk path.
func build(b *testing.B, path string, n int) {
	b.Helper()
	tmp := path + ".partial"
	os.Remove(tmp)
	eng, err := bolt.Open(tmp, bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.New(eng, store.WithClock(func() time.Time { return testNow }),
		store.WithRandom(rand.NewChaCha8([32]byte{9})), store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	sets := []scopes.Set{scopes.NewSet(scopes.WorkflowDeploy, scopes.ModelExport), scopes.NewSet(scopes.GuardrailDeploy)}
	keys := make([]string, keysPerApp)
	for k := range keys {
		keys[k] = fmt.Sprintf("service-%d", k)
	}
	start := time.Now()
	const chunk = 2000
	for from := 0; from < n; from += chunk {
		specs := make([]store.AppSpec, min(chunk, n-from))
		for i := range specs {
			specs[i] = store.AppSpec{Name: fmt.Sprintf("Payments service %06d", from+i), Scopes: sets[(from+i)%2], Keys: keys}
		}
		if _, err := st.CreateApps(b.Context(), testAdmin, specs); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d apps, %d keys in %v", n, n*keysPerApp, time.Since(start).Round(time.Second))
}

// benchConsole is a console on st at 120×40, as a person first sees it.
func benchConsole(st *store.Store) *Model {
	m := New(Options{Store: st, Actor: testAdmin, Location: time.UTC, Now: consoleNow, Clipboard: func(string) tea.Cmd { return nil }})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	return m
}

// settled is a console that has drawn its first screen.
func settled(b *testing.B, st *store.Store) *Model {
	m := benchConsole(st)
	b.Cleanup(m.Close)
	if m.c.apps.none() {
		b.Fatal("the apps did not load")
	}
	m.View()
	return m
}

// press types a key and waits until the console has shown what it asked
// for: the store reads the key started, and those their answers start,
// have answered. It returns the screen.
func press(m *Model, k string) string {
	_, cmd := m.Update(keyPress(k))
	settle(m, cmd)
	return m.View().Content
}

// settle runs cmd, and the commands the answers to it bring, until the
// console has no store read in flight. Commands that wait (timers, the
// change feed) are left running, their answers dropped.
func settle(m *Model, cmd tea.Cmd) {
	msgs := make(chan tea.Msg, 1024)
	run := func(c tea.Cmd) {
		if c != nil {
			go func() {
				select {
				case msgs <- c():
				default:
				}
			}()
		}
	}
	run(cmd)
	for m.c.reads > 0 {
		switch msg := (<-msgs).(type) {
		case tea.BatchMsg:
			for _, c := range msg {
				run(c)
			}
		case doneMsg:
			_, c := m.Update(msg)
			run(c)
		}
	}
}

// compare runs op on the small and the large side in turn, every
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
	b.ReportMetric(float64(t[0])/n, "ns/op-small")
	b.ReportMetric(float64(t[1])/n, "ns/op-large")
	b.ReportMetric(float64(t[1])/float64(t[0]), "x-small")
}

// BenchmarkScale compares consoles on a small and a large database.
//
//   - first-frame: a console opens and draws its first screen with the
//     first page of the list: one app against the large database
//
// and, the large database against one of a tenth of its apps:
//
//   - move: one ↓ or ↑ in the list
//   - scroll: one page down, reading the next page of apps when the list
//     comes near the end of what it holds
//   - filter-match: a character typed into the filter that some apps pass
//   - filter-none: one that no app passes, the worst case: the console
//     says so once every app was looked at
//   - open-app: enter on an app: its window with its keys
//   - audit-open: the Audit Log with its newest events
//   - audit-scroll: one page down in the Audit Log
//   - heap: the Go heap the large console holds beyond its store, against
//     the small one's (HeapAlloc after a GC, with and without the console)
func BenchmarkScale(b *testing.B) {
	large := scaleKeys(b) / keysPerApp
	big := scaleStore(b, large)
	one := scaleStore(b, 1)
	ref := scaleStore(b, large/10)
	keyOf := map[bool]string{true: "down", false: "up"}

	b.Run("first-frame", func(b *testing.B) {
		stores := [2]*store.Store{one, big}
		var sink int
		compare(b, func(int) {}, func(side int) {
			m := benchConsole(stores[side])
			sink += len(m.View().Content)
			m.Close()
		})
		_ = sink
	})

	stores := [2]*store.Store{ref, big}
	b.Run("move", func(b *testing.B) {
		ms := [2]*Model{settled(b, ref), settled(b, big)}
		n := 0
		compare(b, func(int) {}, func(side int) {
			n++
			press(ms[side], keyOf[n%4 < 2])
		})
	})

	b.Run("scroll", func(b *testing.B) {
		var ms [2]*Model
		presses := [2]int{}
		compare(b, func(side int) {
			if ms[side] == nil || presses[side] == 200 { // 200 pages down, then a new console
				if ms[side] != nil {
					ms[side].Close()
				}
				ms[side], presses[side] = benchConsole(stores[side]), 0
			}
			presses[side]++
		}, func(side int) {
			press(ms[side], "pgdown")
		})
		for _, m := range ms {
			m.Close()
		}
	})

	filter := func(name, char string) {
		b.Run(name, func(b *testing.B) {
			ms := [2]*Model{settled(b, ref), settled(b, big)}
			for _, m := range ms {
				press(m, "/")
				press(m, "7")
				press(m, char)
			}
			compare(b, func(side int) {
				press(ms[side], "backspace")
			}, func(side int) {
				press(ms[side], char)
			})
			if l := ms[1].page.(*appList); l.list.filter.Value() != "7"+char {
				b.Fatalf("the filter holds %q", l.list.filter.Value())
			}
		})
	}
	filter("filter-match", "7") // "77": apps 77, 177, 770–779, …
	filter("filter-none", "q")

	b.Run("open-app", func(b *testing.B) {
		ms := [2]*Model{settled(b, ref), settled(b, big)}
		for _, m := range ms {
			press(m, "down")
		}
		compare(b, func(side int) {
			press(ms[side], "esc")
		}, func(side int) {
			if s := press(ms[side], "enter"); len(s) == 0 {
				b.Fatal("nothing drawn")
			}
		})
	})

	b.Run("audit-open", func(b *testing.B) {
		ms := [2]*Model{settled(b, ref), settled(b, big)}
		compare(b, func(side int) {
			press(ms[side], "esc")
		}, func(side int) {
			press(ms[side], "a")
		})
	})

	b.Run("audit-scroll", func(b *testing.B) {
		var ms [2]*Model
		presses := [2]int{}
		compare(b, func(side int) {
			if ms[side] == nil || presses[side] == 200 {
				if ms[side] != nil {
					ms[side].Close()
				}
				ms[side], presses[side] = benchConsole(stores[side]), 0
				press(ms[side], "a")
			}
			presses[side]++
		}, func(side int) {
			press(ms[side], "pgdown")
		})
		for _, m := range ms {
			m.Close()
		}
	})

	b.Run("heap", func(b *testing.B) {
		var held [2]float64
		for b.Loop() {
			for side, st := range []*store.Store{one, big} {
				before := heap()
				m := benchConsole(st)
				press(m, "pgdown")
				press(m, "a")
				press(m, "pgdown")
				after := heap()
				runtime.KeepAlive(m)
				m.Close()
				held[side] = float64(after) - float64(before)
			}
		}
		b.ReportMetric(held[0], "B-console-small")
		b.ReportMetric(held[1], "B-console-large")
	})
}

// heap is the Go heap in use after a collection.
func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
