package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"apiscopes/scopes"
	"apiscopes/store"
)

func nopLogger() *zap.Logger { return zap.NewNop() }

type kv struct{ k, v string }

// commit commits b, failing the test on an error.
func commit(t testing.TB, e *Engine, b *store.Batch) uint64 {
	t.Helper()
	rev, err := e.Commit(context.Background(), b)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return rev
}

func put(t store.Table, pairs ...string) *store.Batch {
	b := &store.Batch{}
	for i := 0; i < len(pairs); i += 2 {
		b.Put(t, []byte(pairs[i]), []byte(pairs[i+1]))
	}
	return b
}

// scan reads a table's entries under prefix as Scan visits them.
func scan(t testing.TB, e *Engine, tb store.Table, prefix string, o store.ScanOptions) []kv {
	t.Helper()
	var out []kv
	err := e.Read(context.Background(), func(s store.Snapshot) error {
		out = nil
		var p []byte
		if prefix != "" {
			p = []byte(prefix)
		}
		return s.Scan(tb, p, o, func(k, v []byte) error {
			out = append(out, kv{string(k), string(v)})
			return nil
		})
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return out
}

func get(t testing.TB, e *Engine, tb store.Table, key string) []byte {
	t.Helper()
	var v []byte
	err := e.Read(context.Background(), func(s store.Snapshot) (err error) {
		v, err = s.Get(tb, []byte(key))
		return err
	})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return v
}

func TestCommitReadScan(t *testing.T) {
	e := openEngine(t, newPrefix(t))
	keys := []string{"a", "ab", "abc", "b", "b\x00", "b\xff", "ba", "c", "\x00", "\xff\xff"}
	b := &store.Batch{}
	for _, k := range keys {
		b.Put(store.TableApps, []byte(k), []byte("v"+k))
		b.Put(store.TableMeta, []byte(k), []byte("v"+k)) // read whole with a snapshot's first read
	}
	b.Put(store.TableNames, []byte("a"), []byte{}) // an empty value is a value
	r1 := commit(t, e, b)
	if r1 == 0 {
		t.Fatal("commit returned revision 0")
	}

	if v := get(t, e, store.TableApps, "b\xff"); string(v) != "vb\xff" {
		t.Fatalf("get b\\xff = %q", v)
	}
	if v := get(t, e, store.TableNames, "a"); v == nil || len(v) != 0 {
		t.Fatalf("empty value read as %#v, want an empty, non-nil slice", v)
	}
	if v := get(t, e, store.TableNames, "b"); v != nil {
		t.Fatalf("absent key read as %#v", v)
	}
	if v := get(t, e, store.TableKeys, "a"); v != nil {
		t.Fatalf("another table's key read as %#v", v)
	}

	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	keysOf := func(kvs []kv) []string {
		var out []string
		for _, p := range kvs {
			out = append(out, p.k)
		}
		return out
	}
	cases := []struct {
		name   string
		prefix string
		o      store.ScanOptions
		want   []string
	}{
		{"all", "", store.ScanOptions{}, sorted},
		{"all reverse", "", store.ScanOptions{Reverse: true}, reversed(sorted)},
		{"prefix", "b", store.ScanOptions{}, []string{"b", "b\x00", "ba", "b\xff"}},
		{"prefix reverse", "b", store.ScanOptions{Reverse: true}, []string{"b\xff", "ba", "b\x00", "b"}},
		{"from", "b", store.ScanOptions{From: []byte("b\x00")}, []string{"b\x00", "ba", "b\xff"}},
		{"from reverse", "b", store.ScanOptions{From: []byte("b\xff"), Reverse: true}, []string{"ba", "b\x00", "b"}},
		{"from before prefix", "b", store.ScanOptions{From: []byte("a")}, []string{"b", "b\x00", "ba", "b\xff"}},
		{"from beyond prefix reverse", "b", store.ScanOptions{From: []byte("c"), Reverse: true},
			[]string{"b\xff", "ba", "b\x00", "b"}},
		{"from past the end", "b", store.ScanOptions{From: []byte("c")}, nil},
		{"none", "d", store.ScanOptions{}, nil},
		{"0xff prefix", "\xff", store.ScanOptions{Reverse: true}, []string{"\xff\xff"}},
	}
	for _, tb := range []store.Table{store.TableApps, store.TableMeta} {
		for _, c := range cases {
			if got := keysOf(scan(t, e, tb, c.prefix, c.o)); !slices.Equal(got, c.want) {
				t.Errorf("%s %s: scan = %q, want %q", tb, c.name, got, c.want)
			}
		}
		if v := get(t, e, tb, "b\xff"); string(v) != "vb\xff" {
			t.Errorf("%s: get b\\xff = %q", tb, v)
		}
		if v := get(t, e, tb, "bb"); v != nil {
			t.Errorf("%s: absent key read as %q", tb, v)
		}
	}
	if got := scan(t, e, store.TableNames, "", store.ScanOptions{}); len(got) != 1 || got[0] != (kv{"a", ""}) {
		t.Errorf("names = %q", got)
	}

	// ErrStop ends a scan without an error.
	var n int
	err := e.Read(context.Background(), func(s store.Snapshot) error {
		return s.Scan(store.TableApps, nil, store.ScanOptions{}, func(_, _ []byte) error {
			n++
			if n == 3 {
				return store.ErrStop
			}
			return nil
		})
	})
	if err != nil || n != 3 {
		t.Fatalf("stopped scan: %d entries, %v", n, err)
	}

	// A snapshot shows one revision, whatever is committed while it is read.
	err = e.Read(context.Background(), func(s store.Snapshot) error {
		if v, err := s.Get(store.TableApps, []byte("a")); err != nil || string(v) != "va" {
			return fmt.Errorf("before: %q, %v", v, err)
		}
		rev := s.Revision()
		r2 := commit(t, e, put(store.TableApps, "a", "changed", "new", "x"))
		if r2 <= rev {
			return fmt.Errorf("commit after the snapshot at %d made revision %d", rev, r2)
		}
		if v, err := s.Get(store.TableApps, []byte("a")); err != nil || string(v) != "va" {
			return fmt.Errorf("after: %q, %v", v, err)
		}
		var got []string
		err := s.Scan(store.TableApps, nil, store.ScanOptions{Reverse: true}, func(k, _ []byte) error {
			got = append(got, string(k))
			return nil
		})
		if err != nil || !slices.Equal(got, reversed(sorted)) {
			return fmt.Errorf("scan after: %q, %v", got, err)
		}
		if s.Revision() != rev {
			return fmt.Errorf("revision moved from %d to %d", rev, s.Revision())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := get(t, e, store.TableApps, "a"); string(v) != "changed" {
		t.Fatalf("a new snapshot shows %q", v)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestScanPages scans a table over many pages, both ways, from the middle,
// and stops in the middle of a page.
func TestScanPages(t *testing.T) {
	e := openEngine(t, newPrefix(t))
	const n = 3000
	var want []string
	for i := 0; i < n; {
		b := &store.Batch{}
		for j := 0; j < 100 && i < n; j, i = j+1, i+1 {
			k := fmt.Sprintf("k%05d", i)
			b.Put(store.TableAudit, []byte(k), bytes.Repeat([]byte{byte(i)}, 50))
			want = append(want, k)
		}
		commit(t, e, b)
	}
	commit(t, e, put(store.TableAudit+"x", "k", "another table after it"))
	commit(t, e, put("audis", "k", "another table before it"))
	check := func(name string, o store.ScanOptions, want []string) {
		t.Helper()
		got := scan(t, e, store.TableAudit, "", o)
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries, want %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i].k != want[i] {
				t.Fatalf("%s: entry %d is %q, want %q", name, i, got[i].k, want[i])
			}
		}
	}
	check("forward", store.ScanOptions{}, want)
	check("reverse", store.ScanOptions{Reverse: true}, reversed(want))
	check("forward from", store.ScanOptions{From: []byte("k01234")}, want[1234:])
	check("reverse from", store.ScanOptions{From: []byte("k01234"), Reverse: true}, reversed(want[:1234]))

	seen := 0
	err := e.Read(context.Background(), func(s store.Snapshot) error {
		return s.Scan(store.TableAudit, nil, store.ScanOptions{Reverse: true}, func(k, _ []byte) error {
			if string(k) != want[n-1-seen] {
				return fmt.Errorf("entry %d is %q", seen, k)
			}
			if seen++; seen == 100 {
				return store.ErrStop
			}
			return nil
		})
	})
	if err != nil || seen != 100 {
		t.Fatalf("stopped reverse scan: %d, %v", seen, err)
	}
}

func TestConds(t *testing.T) {
	e := openEngine(t, newPrefix(t))
	commit(t, e, put(store.TableMeta, "head", "1", "empty", ""))
	before := scan(t, e, store.TableMeta, "", store.ScanOptions{})

	stale := []struct {
		name string
		cond store.Cond
	}{
		{"other value", store.Cond{Table: store.TableMeta, Key: []byte("head"), Value: []byte("2")}},
		{"absent, but present", store.Cond{Table: store.TableMeta, Key: []byte("head")}},
		{"absent, but present and empty", store.Cond{Table: store.TableMeta, Key: []byte("empty")}},
		{"a value, but absent", store.Cond{Table: store.TableMeta, Key: []byte("nothing"), Value: []byte("1")}},
		{"empty, but absent", store.Cond{Table: store.TableMeta, Key: []byte("nothing"), Value: []byte{}}},
		{"same key, other table", store.Cond{Table: store.TableApps, Key: []byte("head"), Value: []byte("1")}},
	}
	for _, c := range stale {
		b := put(store.TableMeta, "head", "changed", "more", "x")
		b.DeletePrefix(store.TableMeta, nil)
		b.Conds = []store.Cond{{Table: store.TableMeta, Key: []byte("head"), Value: []byte("1")}, c.cond}
		if _, err := e.Commit(context.Background(), b); !errors.Is(err, store.ErrStale) {
			t.Errorf("%s: commit = %v, want ErrStale", c.name, err)
		}
	}
	if got := scan(t, e, store.TableMeta, "", store.ScanOptions{}); !slices.Equal(got, before) {
		t.Fatalf("refused commits changed the table: %q, was %q", got, before)
	}

	b := put(store.TableMeta, "head", "2")
	b.Require(store.TableMeta, []byte("head"), []byte("1"))
	b.Require(store.TableMeta, []byte("empty"), []byte{})
	b.Require(store.TableMeta, []byte("nothing"), nil)
	commit(t, e, b)
	if v := get(t, e, store.TableMeta, "head"); string(v) != "2" {
		t.Fatalf("head = %q", v)
	}
	// The same batch again: its conditions no longer hold.
	if _, err := e.Commit(context.Background(), b); !errors.Is(err, store.ErrStale) {
		t.Fatalf("second commit = %v, want ErrStale", err)
	}
}

func TestDeletePrefix(t *testing.T) {
	e := openEngine(t, newPrefix(t))
	var changes []store.ChangeSet
	var mu sync.Mutex
	stop, err := e.Follow(commit(t, e, put(store.TableMeta, "start", "")), func(cs store.ChangeSet) {
		mu.Lock()
		changes = append(changes, cs)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	commit(t, e, put(store.TableKeys, "1a", "", "1b", "", "1c", "", "2a", "", "10", ""))
	commit(t, e, put(store.TableDigests, "1a", "other table"))

	b := &store.Batch{}
	b.DeletePrefix(store.TableKeys, []byte("1"))
	r := commit(t, e, b)
	if got := scan(t, e, store.TableKeys, "", store.ScanOptions{}); len(got) != 1 || got[0].k != "2a" {
		t.Fatalf("after removing prefix 1: %q", got)
	}
	if get(t, e, store.TableDigests, "1a") == nil {
		t.Fatal("a prefix removal removed another table's key")
	}
	eventually(t, 10*time.Second, "the removal's change set", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(changes) > 0 && changes[len(changes)-1].Revision >= r
	})
	mu.Lock()
	last := changes[len(changes)-1]
	mu.Unlock()
	var gone []string
	for _, c := range last.Changes {
		if c.Table != store.TableKeys || c.Value != nil {
			t.Fatalf("unexpected change %+v", c)
		}
		gone = append(gone, string(c.Key))
	}
	slices.Sort(gone)
	if last.Revision != r || !slices.Equal(gone, []string{"10", "1a", "1b", "1c"}) {
		t.Fatalf("change set %d removed %q; want revision %d removing 10 1a 1b 1c", last.Revision, gone, r)
	}

	// In one batch, operations apply in order: keys put after a range
	// removal stay, those put before it go, as a schema migration needs.
	commit(t, e, put(store.TableKeys, "3a", "old", "3b", "old", "3c", "old", "4a", "old"))
	b = put(store.TableKeys, "3z", "put before the removal")
	b.DeletePrefix(store.TableKeys, []byte("3"))
	b.Put(store.TableKeys, []byte("3b"), []byte("new"))
	b.Put(store.TableKeys, []byte("3d"), []byte("new"))
	b.Delete(store.TableKeys, []byte("3c")) // already in the range
	b.DeletePrefix(store.TableKeys, []byte("4"))
	b.DeletePrefix(store.TableKeys, []byte("4a")) // inside a range removed already
	b.Put(store.TableKeys, []byte("4a"), []byte("new"))
	b.Compact()
	commit(t, e, b)
	want := []kv{{"2a", ""}, {"3b", "new"}, {"3d", "new"}, {"4a", "new"}}
	if got := scan(t, e, store.TableKeys, "", store.ScanOptions{}); !slices.Equal(got, want) {
		t.Fatalf("after a removal with puts around it: %q, want %q", got, want)
	}

	// Removing a whole table.
	b = &store.Batch{}
	b.DeletePrefix(store.TableKeys, nil)
	commit(t, e, b)
	if got := scan(t, e, store.TableKeys, "", store.ScanOptions{}); len(got) != 0 {
		t.Fatalf("after removing the table: %q", got)
	}
}

// TestNoopCommit: a commit that changes nothing makes no etcd revision;
// its writer must not wait for one.
func TestNoopCommit(t *testing.T) {
	e := openEngine(t, newPrefix(t))
	r := commit(t, e, put(store.TableMeta, "x", "1"))
	applied := make(chan uint64, 16)
	stop, err := e.Follow(r, func(cs store.ChangeSet) { applied <- cs.Revision })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// Another database on the cluster moves the cluster's revision on.
	other := openEngine(t, newPrefix(t))
	commit(t, other, put(store.TableMeta, "y", "1"))
	b := &store.Batch{}
	b.Delete(store.TableKeys, []byte("absent"))
	got := commit(t, e, b)
	if got > r {
		t.Fatalf("a commit that changed nothing reported revision %d, after the follower's %d", got, r)
	}
	select {
	case rev := <-applied:
		t.Fatalf("a commit that changed nothing was delivered at revision %d", rev)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestFollowExactlyOnce: two engines on one prefix commit at once; each
// follower gets every change set of both, once, in revision order, with
// what each commit wrote.
func TestFollowExactlyOnce(t *testing.T) {
	prefix := newPrefix(t)
	a, b := openEngine(t, prefix), openEngine(t, prefix)
	start := commit(t, a, put(store.TableMeta, "start", "1"))

	type log struct {
		mu   sync.Mutex
		sets []store.ChangeSet
	}
	follow := func(e *Engine) *log {
		l := &log{}
		stop, err := e.Follow(start, func(cs store.ChangeSet) {
			l.mu.Lock()
			l.sets = append(l.sets, cs)
			l.mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return l
	}
	logs := []*log{follow(a), follow(b)}

	const perWriter = 40
	var mu sync.Mutex
	wrote := map[uint64]string{} // revision → the key it put
	var wg sync.WaitGroup
	for w, e := range []*Engine{a, b} {
		wg.Go(func() {
			for i := range perWriter {
				k := fmt.Sprintf("w%d-%03d", w, i)
				bt := put(store.TableApps, k, k)
				bt.Put(store.TableNames, []byte(k), []byte(k))
				rev, err := e.Commit(context.Background(), bt)
				if err != nil {
					t.Errorf("commit %s: %v", k, err)
					return
				}
				mu.Lock()
				wrote[rev] = k
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The other database moves the cluster's revision, never a follower's.
	commit(t, openEngine(t, newPrefix(t)), put(store.TableApps, "elsewhere", "x"))
	// A last change after all of them: the stream is ordered, so a
	// duplicate of any would arrive before it.
	end := commit(t, a, put(store.TableMeta, "end", "1"))
	for i, l := range logs {
		eventually(t, 20*time.Second, "every change set", func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return len(l.sets) > 0 && l.sets[len(l.sets)-1].Revision >= end
		})
		l.mu.Lock()
		sets := slices.Clone(l.sets)
		l.mu.Unlock()
		if last := sets[len(sets)-1]; last.Revision != end {
			t.Fatalf("follower %d: the last change set is at %d, want the last change at %d", i, last.Revision, end)
		}
		sets = sets[:len(sets)-1]
		if len(sets) != 2*perWriter {
			t.Fatalf("follower %d: %d change sets, want %d", i, len(sets), 2*perWriter)
		}
		prev := start
		for _, cs := range sets {
			if cs.Resync || cs.Revision <= prev {
				t.Fatalf("follower %d: change set %d (resync %v) after %d", i, cs.Revision, cs.Resync, prev)
			}
			prev = cs.Revision
			k, ok := wrote[cs.Revision]
			if !ok {
				t.Fatalf("follower %d: change set at %d, which no commit made", i, cs.Revision)
			}
			got := map[store.Table]string{}
			for _, c := range cs.Changes {
				if string(c.Key) != k || string(c.Value) != k {
					t.Fatalf("follower %d: revision %d changed %s %q=%q, the commit wrote %q", i, cs.Revision, c.Table, c.Key, c.Value, k)
				}
				got[c.Table] = k
			}
			if len(got) != 2 || len(cs.Changes) != 2 {
				t.Fatalf("follower %d: revision %d has %d changes, want 2", i, cs.Revision, len(cs.Changes))
			}
		}
	}

	// A follower that starts behind is given what it missed, in order.
	late := make(chan store.ChangeSet, 4*perWriter)
	stop, err := a.Follow(start, func(cs store.ChangeSet) { late <- cs })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	prev := start
	for range 2 * perWriter {
		select {
		case cs := <-late:
			if cs.Revision <= prev || cs.Resync {
				t.Fatalf("late follower: %d after %d", cs.Revision, prev)
			}
			prev = cs.Revision
		case <-time.After(10 * time.Second):
			t.Fatal("the late follower was not given what it missed")
		}
	}
}

// TestFollowCompacted: a follower further behind than the cluster keeps is
// told to read a new snapshot, then follows on from there.
func TestFollowCompacted(t *testing.T) {
	e := openEngine(t, newPrefix(t))
	start := commit(t, e, put(store.TableMeta, "a", "1"))
	commit(t, e, put(store.TableMeta, "a", "2"))
	last := commit(t, e, put(store.TableMeta, "a", "3"))
	if _, err := rawClient(t).Compact(ctxT(t), int64(last)); err != nil {
		t.Fatal(err)
	}
	sets := make(chan store.ChangeSet, 16)
	stop, err := e.Follow(start, func(cs store.ChangeSet) { sets <- cs })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	select {
	case cs := <-sets:
		if !cs.Resync || cs.Revision < last {
			t.Fatalf("first change set %+v, want a resync at or after %d", cs, last)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no resync")
	}
	next := commit(t, e, put(store.TableMeta, "a", "4"))
	select {
	case cs := <-sets:
		if cs.Resync || cs.Revision != next || len(cs.Changes) != 1 || string(cs.Changes[0].Value) != "4" {
			t.Fatalf("after the resync: %+v, want the commit at %d", cs, next)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing after the resync")
	}
}

func TestEngineErrors(t *testing.T) {
	e := openEngine(t, newPrefix(t))

	// More operations than etcd takes in one transaction: refused, with
	// nothing changed.
	b := &store.Batch{}
	for i := range 200 {
		b.Put(store.TableKeys, fmt.Appendf(nil, "%03d", i), []byte("x"))
	}
	_, err := e.Commit(context.Background(), b)
	if !errors.Is(err, store.ErrWriteFailed) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("a batch of 200 puts: %v, want a refusal (ErrWriteFailed, not ErrOutcomeUnknown)", err)
	}
	t.Logf("refusal: %v", err)
	if got := scan(t, e, store.TableKeys, "", store.ScanOptions{}); len(got) != 0 {
		t.Fatalf("a refused batch wrote %d keys", len(got))
	}

	// A cluster that does not answer fails Open within the dial timeout.
	dead, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Endpoints: []string{fmt.Sprintf("127.0.0.1:%d", dead[0])}, DialTimeout: 300 * time.Millisecond}); err == nil {
		t.Fatal("Open of a cluster that is not there succeeded")
	} else {
		t.Logf("open: %v", err)
	}

	// A client certificate without its key is refused before dialling.
	if _, err := Open(Config{Endpoints: cluster.endpoints(), TLS: TLS{CertFile: "client.crt"}}); err == nil {
		t.Fatal("Open with a certificate and no key succeeded")
	}

	// A healthy cluster passes the check of its medium.
	if err := e.CheckMedium(); err != nil {
		t.Fatalf("check the cluster: %v", err)
	}

	// A closed engine refuses everything.
	e.Close()
	if err := e.Read(context.Background(), func(store.Snapshot) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := e.Commit(context.Background(), put(store.TableMeta, "a", "b")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("commit after close: %v", err)
	}
	if _, err := e.Follow(0, func(store.ChangeSet) {}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("follow after close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestReadAnyMember: reads from any member still show the engine's own
// commits at once, and never go back in time.
func TestReadAnyMember(t *testing.T) {
	prefix := newPrefix(t)
	e := openEngine(t, prefix, func(c *Config) { c.readAnyMember = true })
	other := openEngine(t, prefix)
	last := uint64(0)
	for i := range 60 {
		w := e
		if i%2 == 1 {
			w = other // the other's commits become visible as e's stream or confirmations bring them
		}
		r := commit(t, w, put("scratch", "k", fmt.Sprint(i), fmt.Sprint(i), "x"))
		err := e.Read(context.Background(), func(s store.Snapshot) error {
			v, err := s.Get("scratch", []byte("k"))
			if err != nil {
				return err
			}
			rev := s.Revision()
			if rev < last {
				return fmt.Errorf("snapshot at %d after one at %d", rev, last)
			}
			last = rev
			if w == e && (rev < r || string(v) != fmt.Sprint(i)) {
				return fmt.Errorf("after its own commit %d at %d: snapshot at %d shows k=%q", i, r, rev, v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A store on it.
	st, err := store.New(e, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 5 {
		app, err := st.CreateApp(t.Context(), admin, fmt.Sprintf("app %d", i), scopes.Full())
		if err != nil {
			t.Fatal(err)
		}
		if got, err := st.App(t.Context(), app.ID); err != nil || got.Name != app.Name {
			t.Fatalf("the app just made: %+v, %v", got, err)
		}
	}
}

// TestReadAhead: a snapshot that reads many single records of one table
// reads the table whole, and answers the same as record by record; a
// table too large to hold is read record by record all along.
func TestReadAhead(t *testing.T) {
	e := openEngine(t, newPrefix(t))
	const n = 200
	b := &store.Batch{}
	for i := range n {
		if i%2 == 0 { // every other key: the odd ones stay absent
			b.Put(store.TableApps, fmt.Appendf(nil, "%04d", i), fmt.Appendf(nil, "app %d", i))
		}
		if len(b.Ops) == 100 {
			commit(t, e, b)
			b = &store.Batch{}
		}
	}
	commit(t, e, b)
	big := bytes.Repeat([]byte("x"), 1<<20)
	for i := range 5 { // 5 MiB: more than a snapshot holds
		commit(t, e, put(store.TableKeys, fmt.Sprintf("%04d", i), string(big)))
	}
	err := e.Read(context.Background(), func(s store.Snapshot) error {
		for i := range n {
			k := (i * 37) % n
			v, err := s.Get(store.TableApps, fmt.Appendf(nil, "%04d", k))
			if err != nil {
				return err
			}
			if k%2 == 1 && v != nil || k%2 == 0 && string(v) != fmt.Sprintf("app %d", k) {
				return fmt.Errorf("read %d of %d: key %04d holds %q", i, n, k, v)
			}
		}
		var keys int
		if err := s.Scan(store.TableApps, []byte("01"), store.ScanOptions{Reverse: true}, func(_, _ []byte) error {
			keys++
			return nil
		}); err != nil || keys != 50 {
			return fmt.Errorf("scan after reading the table whole: %d keys, %v", keys, err)
		}
		for round := range 2 {
			for i := range 5 + readAhead {
				v, err := s.Get(store.TableKeys, fmt.Appendf(nil, "%04d", i%5))
				if err != nil || !bytes.Equal(v, big) {
					return fmt.Errorf("round %d, large record %d: %d bytes, %v", round, i%5, len(v), err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.mayReadWhole(store.TableKeys) {
		t.Fatal("a table of 5 MiB was not found too large to read whole")
	}
}

// TestNoPrefetch: with no table read ahead, a snapshot's first read is
// the record asked for, or nothing but the revision.
func TestNoPrefetch(t *testing.T) {
	e := openEngine(t, newPrefix(t), func(c *Config) { c.prefetch = []store.Table{} })
	r := commit(t, e, put(store.TableMeta, "schema", "x"))
	err := e.Read(context.Background(), func(s store.Snapshot) error {
		if rev := s.Revision(); rev < r {
			return fmt.Errorf("a snapshot at %d after a commit at %d", rev, r)
		}
		v, err := s.Get(store.TableMeta, []byte("schema"))
		if err != nil || string(v) != "x" {
			return fmt.Errorf("get: %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := get(t, e, store.TableMeta, "schema"); string(v) != "x" {
		t.Fatalf("get as a first read: %q", v)
	}
}
