package scaletest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// keysPerApp is how many keys each app of a scale database has.
const keysPerApp = 10

// smallKeys is the size every start-up is compared with.
const smallKeys = 1000

// maxDefault is the largest size built unless APISCOPES_SCALE_KEYS asks.
const maxDefault = 100_000

// scaleKeys is the size the benchmarks measure: APISCOPES_SCALE_KEYS, or
// 10,000 keys (the one quick pass CI runs).
func scaleKeys(tb testing.TB) int {
	v := os.Getenv("APISCOPES_SCALE_KEYS")
	if v == "" {
		return 10_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 5*smallKeys {
		tb.Fatalf("APISCOPES_SCALE_KEYS=%q: give a number of keys of at least %d", v, 5*smallKeys)
	}
	return n
}

var built sync.Map // keys → path, within one run

// database is a database file of n keys (n/10 apps of ten keys each),
// built once with the bulk path, kept in APISCOPES_SCALE_DIR when set. It
// is opened read-only by the benchmarks, so it can serve every run.
func database(tb testing.TB, n int) string {
	tb.Helper()
	if n > maxDefault && os.Getenv("APISCOPES_SCALE_KEYS") == "" {
		tb.Fatalf("%d keys: sizes above %d are built only when APISCOPES_SCALE_KEYS asks", n, maxDefault)
	}
	if p, ok := built.Load(n); ok {
		return p.(string)
	}
	dir := os.Getenv("APISCOPES_SCALE_DIR")
	if dir == "" {
		dir = scratch(tb)
	}
	path := filepath.Join(dir, fmt.Sprintf("scale-%d.db", n))
	if _, err := os.Stat(path); err == nil {
		built.Store(n, path)
		return path
	}
	tmp := path + ".building"
	os.Remove(tmp)
	st, err := bolt.OpenStore(tmp, bolt.Options{NoSync: true}, store.WithMaintenance(0))
	if err != nil {
		tb.Fatal(err)
	}
	admin := store.Actor{Name: "Loader", Role: store.Admin}
	names := make([]string, keysPerApp)
	for i := range names {
		names[i] = fmt.Sprintf("key %d", i)
	}
	const chunk = 1000
	for i := 0; i < n/keysPerApp; i += chunk {
		specs := make([]store.AppSpec, 0, chunk)
		for j := i; j < i+chunk && j < n/keysPerApp; j++ {
			specs = append(specs, store.AppSpec{Name: fmt.Sprintf("app %07d", j), Scopes: scopes.Full(), Keys: names})
		}
		if _, err := st.CreateApps(context.Background(), admin, specs); err != nil {
			st.Close()
			tb.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	built.Store(n, path)
	return path
}

var (
	scratchOnce sync.Once
	scratchDir  string
)

// scratch is a folder for this run's databases, removed by TestMain.
func scratch(tb testing.TB) string {
	scratchOnce.Do(func() {
		d, err := os.MkdirTemp("", "apiscopes-scale-")
		if err != nil {
			tb.Fatal(err)
		}
		scratchDir = d
	})
	return scratchDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if scratchDir != "" {
		os.RemoveAll(scratchDir)
	}
	os.Exit(code)
}

// copyOf is a private copy of the database at path, for a store that
// writes (serve and the console hold their file for writing).
func copyOf(tb testing.TB, path string) string {
	tb.Helper()
	to := filepath.Join(tb.TempDir(), filepath.Base(path))
	in, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
	return to
}

// warm reads the whole file once, so that every measure starts from the
// page cache, as a restarted server does.
func warm(tb testing.TB, path string) {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	io.Copy(io.Discard, f)
}

// openServing opens path as serve and the console do: held, its index
// loaded, the check left to the background; it returns once the store is
// ready to answer checks.
func openServing(tb testing.TB, path string) *local.Holder {
	tb.Helper()
	h, err := local.OpenStore(path, local.Options{Check: store.CheckBehind}, store.WithMaintenance(0))
	if err != nil {
		tb.Fatal(err)
	}
	if !h.Store().Ready() {
		tb.Fatal("the store opened but is not ready")
	}
	return h
}

// readRecords is the floor: reading every app's and key's record once, in
// one read transaction of the file, and decoding it.
func readRecords(tb testing.TB, path string) (apps, keys int) {
	tb.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		var app struct {
			ID     uint64   `json:"id"`
			Name   string   `json:"name"`
			Scopes []string `json:"scopes"`
		}
		var key struct {
			ID     uint64 `json:"id"`
			AppID  uint64 `json:"app_id"`
			Name   string `json:"name"`
			Hint   string `json:"hint"`
			Digest []byte `json:"sha256"`
		}
		if err := tx.Bucket([]byte(store.TableApps)).ForEach(func(_, v []byte) error {
			apps++
			return json.Unmarshal(v, &app)
		}); err != nil {
			return err
		}
		return tx.Bucket([]byte(store.TableKeys)).ForEach(func(_, v []byte) error {
			keys++
			return json.Unmarshal(v, &key)
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return apps, keys
}

// startUp times open (and first), once at n keys, once at smallKeys and
// once the floor at n keys, in alternating order, and reports the ratios.
func startUp(b *testing.B, first func(tb testing.TB, h *local.Holder)) {
	n := scaleKeys(b)
	large, small := database(b, n), database(b, smallKeys)
	largeCopy, smallCopy := copyOf(b, large), copyOf(b, small)
	warm(b, largeCopy)
	warm(b, smallCopy)
	var tLarge, tSmall, tFloor time.Duration
	open := func(path string) time.Duration {
		start := time.Now()
		h := openServing(b, path)
		first(b, h)
		took := time.Since(start)
		<-h.Store().Checked() // the check behind, not timed: it must pass
		if err := h.Store().Damaged(); err != nil {
			b.Fatal(err)
		}
		h.Close()
		return took
	}
	b.ResetTimer()
	for b.Loop() {
		tSmall += open(smallCopy)
		tLarge += open(largeCopy)
		start := time.Now()
		if _, keys := readRecords(b, largeCopy); keys != n {
			b.Fatalf("the floor read %d keys, want %d", keys, n)
		}
		tFloor += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(tLarge.Milliseconds())/float64(b.N), "ms-large")
	b.ReportMetric(float64(tSmall.Milliseconds())/float64(b.N), "ms-1k")
	b.ReportMetric(float64(tFloor.Milliseconds())/float64(b.N), "ms-floor")
	b.ReportMetric(float64(tLarge)/float64(tSmall), "x-1k")
	b.ReportMetric(float64(tLarge)/float64(tFloor), "x-floor")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkScaleServeStart: serve is ready (its store answers checks, as
// /readyz says) at APISCOPES_SCALE_KEYS keys, against the same at 1,000
// keys (goal: ≤ 5×) and against reading the apps' and keys' records once
// (goal: ≤ 3×).
func BenchmarkScaleServeStart(b *testing.B) {
	startUp(b, func(testing.TB, *local.Holder) {})
}

// BenchmarkScaleConsoleStart: the console's list is shown: the store open
// as the console opens it, and the first page of apps read.
func BenchmarkScaleConsoleStart(b *testing.B) {
	startUp(b, func(tb testing.TB, h *local.Holder) {
		apps, err := h.Store().FirstApps(context.Background(), consolePage)
		if err != nil || len(apps) != consolePage {
			tb.Fatalf("FirstApps = %d apps, %v", len(apps), err)
		}
	})
}

// consolePage is how many apps the console's first page shows at most.
const consolePage = 100

// BenchmarkScaleIndexMemory: the verify index's Go heap a key (HeapAlloc
// after a collection), as the growth from a database of a fifth of the
// keys to one of all of them (goal: ≤ 250 bytes), with the process's
// anonymous resident memory (smaps_rollup) at the larger.
func BenchmarkScaleIndexMemory(b *testing.B) {
	n := scaleKeys(b)
	large, small := database(b, n), database(b, n/5)
	for b.Loop() {
		heapSmall, _ := heldBy(b, small)
		heapLarge, anon := heldBy(b, large)
		b.ReportMetric(float64(heapLarge-heapSmall)/float64(n-n/5), "heap-B/key")
		b.ReportMetric(float64(heapLarge)/float64(n), "heap-B/key-all")
		b.ReportMetric(float64(anon)/(1<<20), "anon-MiB")
		b.ReportMetric(float64(anon)/float64(n), "anon-B/key")
	}
	b.ReportMetric(0, "ns/op")
}

// heldBy opens the database at path read-only, with its index, and returns
// the Go heap in use once collected (less what was in use before), and the
// process's anonymous resident memory then.
func heldBy(tb testing.TB, path string) (heap, anon uint64) {
	tb.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st, err := bolt.OpenStore(path, bolt.Options{ReadOnly: true, SkipPageCheck: true}, store.ReadOnly(),
		store.WithOpenCheck(store.CheckTail))
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	anon = anonymous(tb)
	if _, keys := st.Size(); keys == 0 {
		tb.Fatal("the index holds no key")
	}
	st.Close()
	return after.HeapAlloc - before.HeapAlloc, anon
}

// anonymous is the process's anonymous resident memory (its heap and
// stacks, not the file's mapping), from /proc/self/smaps_rollup; 0 where
// there is none.
func anonymous(tb testing.TB) uint64 {
	raw, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "Anonymous:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
