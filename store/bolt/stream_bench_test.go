package bolt

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// The streaming commands on a file no process holds, each against the
// least any reading of the file costs: its bytes read once and hashed with
// SHA-256 (backup: copied to another file, then read and hashed once), in
// the same run. Each reports x-baseline, how many times longer it takes,
// and peak-heap-MB, the most Go heap it held (sampled), which must not grow
// with the file.
//
// The file has 10,000 keys (1,000 apps of 10) unless APISCOPES_STREAM_KEYS
// asks for more; APISCOPES_STREAM_DB names a file to build once and keep
// (it is built by CreateApps if missing), for runs at a million keys:
//
//	APISCOPES_STREAM_KEYS=1000000 APISCOPES_STREAM_DB=/tmp/stream/1m.db \
//	  go test ./store/bolt -run '^$' -bench Streaming -benchtime 1x -timeout 2h
func BenchmarkStreaming(b *testing.B) {
	path := streamFile(b)
	ctx := context.Background()
	open := func() *Engine {
		e, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	cases := []struct {
		name   string
		run    func()
		backup bool
	}{
		{"audit-verify", func() {
			e := open()
			defer e.Close()
			if _, err := store.VerifyAuditOf(ctx, e); err != nil {
				b.Fatal(err)
			}
		}, false},
		{"audit-json", func() {
			e := open()
			defer e.Close()
			enc := json.NewEncoder(io.Discard)
			if err := store.EachEventOf(ctx, e, func(ev store.Event) error { return enc.Encode(ev) }); err != nil {
				b.Fatal(err)
			}
		}, false},
		{"check", func() {
			if err := CheckFile(ctx, path); err != nil {
				b.Fatal(err)
			}
		}, false},
		{"backup", func() {
			e := open()
			defer e.Close()
			out := filepath.Join(b.TempDir(), "backup.db")
			if err := BackupEngineFile(ctx, e, out); err != nil {
				b.Fatal(err)
			}
			os.Remove(out)
		}, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var took, base time.Duration
			var peak uint64
			for b.Loop() {
				start := time.Now()
				p := peakHeap(c.run)
				took += time.Since(start)
				peak = max(peak, p)
				b.StopTimer()
				start = time.Now()
				if c.backup {
					copyAndHash(b, path)
				} else {
					hashFile(b, path)
				}
				base += time.Since(start)
				b.StartTimer()
			}
			b.ReportMetric(float64(took)/float64(base), "x-baseline")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// streamFile is the benchmark's database, built by CreateApps when absent.
func streamFile(b *testing.B) string {
	keys := 10_000
	if v := os.Getenv("APISCOPES_STREAM_KEYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			b.Fatalf("APISCOPES_STREAM_KEYS=%q: give a number of keys, 10 or more", v)
		}
		keys = n
	}
	path := os.Getenv("APISCOPES_STREAM_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "stream.db")
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	st, err := OpenStore(path, Options{MakePrivate: true}, store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const per = 10_000 // apps a call, so that a failure says where
	start := time.Now()
	defer func() {
		took := time.Since(start)
		fi, _ := os.Stat(path)
		b.Logf("built %s: %d keys by CreateApps in %v, %.0f keys a second; %d bytes", path, keys, took.Round(time.Millisecond),
			float64(keys)/took.Seconds(), fi.Size())
	}()
	for made := 0; made < keys/10; made += per {
		var specs []store.AppSpec
		for i := made; i < min(made+per, keys/10); i++ {
			specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy),
				Keys: seqNames(10)})
		}
		if _, err := st.CreateApps(context.Background(), admin, specs); err != nil {
			b.Fatal(err)
		}
	}
	return path
}

// hashFile reads the file once and hashes its bytes.
func hashFile(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		b.Fatal(err)
	}
	h.Sum(nil)
}

// copyAndHash copies the file, syncs the copy, then reads and hashes it once.
func copyAndHash(b *testing.B, path string) {
	out := filepath.Join(b.TempDir(), "copy.db")
	src, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	dst, err := os.Create(out)
	if err == nil {
		_, err = io.Copy(dst, src)
	}
	if err == nil {
		err = dst.Sync()
	}
	src.Close()
	dst.Close()
	if err != nil {
		b.Fatal(err)
	}
	hashFile(b, out)
	os.Remove(out)
}

// peakHeap runs fn and returns the most heap in use while it ran, sampled
// every few milliseconds, above what was in use before.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > before {
				peak = max(peak, ms.HeapAlloc-before)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	return peak
}
