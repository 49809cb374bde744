package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"apiscopes/store"
)

// The Engine contract itself, on an engine with no store on it: what the
// store's rules rely on.
var engineCases = []testCase{
	{"ScanOrderPrefixAndBounds", testEngineScan},
	{"SnapshotIsStable", testEngineSnapshot},
	{"ConditionsAllOrNothing", testEngineConditions},
	{"DeletePrefix", testEngineDeletePrefix},
	{"FollowInOrderOnce", testEngineFollow},
	{"FollowFromAnEarlierRevision", testEngineFollowBehind},
	{"ClosedEngine", testEngineClosed},
}

var ctx = context.Background()

func commit(t *testing.T, eng store.Engine, b *store.Batch) uint64 {
	t.Helper()
	markForeign(eng)
	rev, err := eng.Commit(ctx, b)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return rev
}

func put(t store.Table, kv ...string) *store.Batch {
	b := &store.Batch{}
	for i := 0; i+1 < len(kv); i += 2 {
		b.Put(t, []byte(kv[i]), []byte(kv[i+1]))
	}
	return b
}

// scan lists the keys a scan visits.
func scan(t *testing.T, eng store.Engine, tb store.Table, prefix string, o store.ScanOptions) []string {
	t.Helper()
	var out []string
	err := eng.Read(ctx, func(snap store.Snapshot) error {
		return snap.Scan(tb, []byte(prefix), o, func(k, v []byte) error {
			if string(v) != "v"+string(k) {
				return fmt.Errorf("key %q holds %q", k, v)
			}
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatalf("Scan(%q, %+v): %v", prefix, o, err)
	}
	return out
}

func testEngineScan(t *testing.T, e *env) {
	eng := e.raw()
	keys := []string{"a", "ab", "abc", "abd", "ac", "b", "b\xff", "b\xff\xff", "c"}
	b := &store.Batch{}
	for _, k := range slices.Backward(keys) { // order of writing is not order of keys
		b.Put(store.TableApps, []byte(k), []byte("v"+k))
	}
	b.Put(store.TableNames, []byte("abz"), []byte("vabz")) // another table is another keyspace
	commit(t, eng, b)

	reversed := func(s []string) []string { r := slices.Clone(s); slices.Reverse(r); return r }
	tests := []struct {
		prefix string
		o      store.ScanOptions
		want   []string
	}{
		{"", store.ScanOptions{}, keys},
		{"ab", store.ScanOptions{}, []string{"ab", "abc", "abd"}},
		{"b\xff", store.ScanOptions{}, []string{"b\xff", "b\xff\xff"}},
		{"x", store.ScanOptions{}, nil},
		{"", store.ScanOptions{Reverse: true}, reversed(keys)},
		{"ab", store.ScanOptions{Reverse: true}, []string{"abd", "abc", "ab"}},
		{"b\xff", store.ScanOptions{Reverse: true}, []string{"b\xff\xff", "b\xff"}},
		{"", store.ScanOptions{From: []byte("abd")}, []string{"abd", "ac", "b", "b\xff", "b\xff\xff", "c"}},
		{"", store.ScanOptions{From: []byte("abcc")}, []string{"abd", "ac", "b", "b\xff", "b\xff\xff", "c"}},
		{"ab", store.ScanOptions{From: []byte("abc")}, []string{"abc", "abd"}},
		{"ab", store.ScanOptions{From: []byte("a")}, []string{"ab", "abc", "abd"}}, // From before the prefix
		{"ab", store.ScanOptions{From: []byte("b")}, nil},                          // From after it
		{"", store.ScanOptions{From: []byte("abd"), Reverse: true}, []string{"abc", "ab", "a"}},
		{"ab", store.ScanOptions{From: []byte("abd"), Reverse: true}, []string{"abc", "ab"}},
		{"ab", store.ScanOptions{From: []byte("zz"), Reverse: true}, []string{"abd", "abc", "ab"}}, // From after the prefix
		{"ab", store.ScanOptions{From: []byte("a"), Reverse: true}, nil},                           // From before it
		{"", store.ScanOptions{From: []byte("zz"), Reverse: true}, reversed(keys)},
	}
	for _, tt := range tests {
		if got := scan(t, eng, store.TableApps, tt.prefix, tt.o); !slices.Equal(got, tt.want) {
			t.Errorf("Scan(%q, %+v) = %q, want %q", tt.prefix, tt.o, got, tt.want)
		}
	}
	if got := scan(t, eng, store.TableAudit, "", store.ScanOptions{}); got != nil {
		t.Errorf("a table never written holds %q", got)
	}

	// ErrStop ends a scan without an error; any other error ends it with that error.
	var seen []string
	err := eng.Read(ctx, func(snap store.Snapshot) error {
		return snap.Scan(store.TableApps, nil, store.ScanOptions{}, func(k, _ []byte) error {
			if len(seen) == 2 {
				return store.ErrStop
			}
			seen = append(seen, string(k))
			return nil
		})
	})
	if err != nil || !slices.Equal(seen, keys[:2]) {
		t.Errorf("a scan stopped after two = %q, %v", seen, err)
	}
	err = eng.Read(ctx, func(snap store.Snapshot) error {
		return snap.Scan(store.TableApps, nil, store.ScanOptions{}, func(_, _ []byte) error { return errBoom })
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("a scan's own error = %v", err)
	}
	// Get returns a copy, and nil for nothing.
	err = eng.Read(ctx, func(snap store.Snapshot) error {
		v, err := snap.Get(store.TableApps, []byte("ab"))
		if err != nil || string(v) != "vab" {
			return fmt.Errorf("Get(ab) = %q, %v", v, err)
		}
		v[0] = 'X'
		if again, _ := snap.Get(store.TableApps, []byte("ab")); string(again) != "vab" {
			return fmt.Errorf("changing what Get returned changed the record: %q", again)
		}
		if v, err := snap.Get(store.TableApps, []byte("zz")); v != nil || err != nil {
			return fmt.Errorf("snap.Get(missing) = %q, %v", v, err)
		}
		if v, err := snap.Get(store.TableUsage, []byte("a")); v != nil || err != nil {
			return fmt.Errorf("Get in an empty table = %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// A snapshot shows one revision for as long as it is read, whatever is
// committed meanwhile; the next snapshot shows the commit.
func testEngineSnapshot(t *testing.T, e *env) {
	eng := e.raw()
	rev1 := commit(t, eng, put(store.TableApps, "k", "one"))
	var wg sync.WaitGroup
	var rev2 uint64
	err := eng.Read(ctx, func(snap store.Snapshot) error {
		if snap.Revision() != rev1 {
			return fmt.Errorf("snapshot revision %d, last commit %d", snap.Revision(), rev1)
		}
		wg.Go(func() {
			var err error
			if rev2, err = eng.Commit(ctx, put(store.TableApps, "k", "two", "k2", "new")); err != nil {
				t.Errorf("Commit beside a reader: %v", err)
			}
		})
		for range 3 {
			if v, _ := snap.Get(store.TableApps, []byte("k")); string(v) != "one" {
				return fmt.Errorf("the snapshot changed under its reader: %q", v)
			}
			if v, _ := snap.Get(store.TableApps, []byte("k2")); v != nil {
				return fmt.Errorf("the snapshot shows a later commit: %q", v)
			}
		}
		return nil
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if rev2 <= rev1 {
		t.Errorf("revisions %d then %d", rev1, rev2)
	}
	eng.Read(ctx, func(snap store.Snapshot) error {
		if v, _ := snap.Get(store.TableApps, []byte("k")); string(v) != "two" || snap.Revision() != rev2 {
			t.Errorf("after the commit: %q at revision %d, want two at %d", v, snap.Revision(), rev2)
		}
		return nil
	})
}

// A batch commits whole when all its conditions hold, and not at all when
// one does not.
func testEngineConditions(t *testing.T, e *env) {
	eng := e.raw()
	rev := commit(t, eng, put(store.TableMeta, "head", "1"))
	stale := []struct {
		name string
		cond store.Cond
	}{
		{"absent but present", store.Cond{Table: store.TableMeta, Key: []byte("head")}},
		{"a value but another", store.Cond{Table: store.TableMeta, Key: []byte("head"), Value: []byte("2")}},
		{"a value but absent", store.Cond{Table: store.TableMeta, Key: []byte("tail"), Value: []byte("1")}},
		{"in another table", store.Cond{Table: store.TableApps, Key: []byte("head"), Value: []byte("1")}},
	}
	for _, tt := range stale {
		b := put(store.TableApps, "x", "1", "y", "2")
		b.Delete(store.TableMeta, []byte("head"))
		b.Require(store.TableMeta, []byte("head"), []byte("1")) // holds
		b.Conds = append(b.Conds, tt.cond)
		if _, err := eng.Commit(ctx, b); !errors.Is(err, store.ErrStale) {
			t.Errorf("%s: Commit = %v, want ErrStale", tt.name, err)
		}
	}
	eng.Read(ctx, func(snap store.Snapshot) error {
		if snap.Revision() != rev {
			t.Errorf("refused batches moved the revision from %d to %d", rev, snap.Revision())
		}
		for _, k := range []string{"x", "y"} {
			if v, _ := snap.Get(store.TableApps, []byte(k)); v != nil {
				t.Errorf("a refused batch wrote %s", k)
			}
		}
		if v, _ := snap.Get(store.TableMeta, []byte("head")); string(v) != "1" {
			t.Errorf("a refused batch removed head")
		}
		return nil
	})
	b := put(store.TableMeta, "head", "2")
	b.Require(store.TableMeta, []byte("head"), []byte("1"))
	b.Require(store.TableMeta, []byte("tail"), nil)
	if next := commit(t, eng, b); next <= rev {
		t.Errorf("revision %d after %d", next, rev)
	}
}

func testEngineDeletePrefix(t *testing.T, e *env) {
	eng := e.raw()
	var got []store.ChangeSet
	var mu sync.Mutex
	commit(t, eng, put(store.TableKeys, "1a", "v1a", "1b", "v1b", "1c", "v1c", "2a", "v2a", "1", "v1"))
	var rev uint64
	eng.Read(ctx, func(snap store.Snapshot) error { rev = snap.Revision(); return nil })
	stop, err := eng.Follow(rev, func(cs store.ChangeSet) { mu.Lock(); got = append(got, cs); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	b := &store.Batch{}
	b.DeletePrefix(store.TableKeys, []byte("1"))
	b.Put(store.TableNames, []byte("n"), []byte("vn"))
	rev = commit(t, eng, b)
	if keys := scan(t, eng, store.TableKeys, "", store.ScanOptions{}); !slices.Equal(keys, []string{"2a"}) {
		t.Errorf("after removing prefix 1: %q", keys)
	}
	eventually(t, "the removal is delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	mu.Lock()
	defer mu.Unlock()
	cs := got[0]
	var removed []string
	for _, c := range cs.Changes {
		if c.Table == store.TableKeys {
			if c.Value != nil {
				t.Errorf("the removal reports a put of %q", c.Key)
			}
			removed = append(removed, string(c.Key))
		}
	}
	slices.Sort(removed)
	if cs.Revision != rev || !slices.Equal(removed, []string{"1", "1a", "1b", "1c"}) {
		t.Errorf("change set %d lists %q removed; want revision %d and each key of the prefix", cs.Revision, removed, rev)
	}
}

// follower collects the change sets an engine delivers.
type follower struct {
	mu  sync.Mutex
	got []store.ChangeSet
}

func (f *follower) apply(cs store.ChangeSet) { f.mu.Lock(); f.got = append(f.got, cs); f.mu.Unlock() }

func (f *follower) sets() []store.ChangeSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func testEngineFollow(t *testing.T, e *env) {
	eng := e.raw()
	var start uint64
	eng.Read(ctx, func(snap store.Snapshot) error { start = snap.Revision(); return nil })
	var f, g follower
	stop, err := eng.Follow(start, f.apply)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stopG, err := eng.Follow(start, g.apply)
	if err != nil {
		t.Fatal(err)
	}
	var revs []uint64
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range 4 { // commits from several goroutines still arrive in revision order
		wg.Go(func() {
			for i := range 10 {
				rev, err := eng.Commit(ctx, put(store.TableAudit, fmt.Sprintf("%d-%02d", w, i), "x"))
				if err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
				mu.Lock()
				revs = append(revs, rev)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(revs)
	eventually(t, "40 change sets delivered", func() bool { return len(f.sets()) == 40 })
	for i, cs := range f.sets() {
		if cs.Resync || cs.Revision != revs[i] || len(cs.Changes) != 1 || cs.Changes[0].Table != store.TableAudit {
			t.Fatalf("change set %d = %+v; want revision %d with its one put", i, cs, revs[i])
		}
	}
	// A stopped follower hears of nothing more; the others do.
	stopG()
	stopG() // twice is harmless
	n := len(g.sets())
	last := commit(t, eng, put(store.TableAudit, "last", "x"))
	eventually(t, "the last change set delivered", func() bool { return len(f.sets()) == 41 })
	if f.sets()[40].Revision != last {
		t.Errorf("last change set has revision %d, want %d", f.sets()[40].Revision, last)
	}
	if len(g.sets()) != n {
		t.Errorf("a stopped follower was given %d more change sets", len(g.sets())-n)
	}
}

// A follower that starts from an earlier revision is given every change
// set after it, or, if the engine no longer has them, a Resync.
func testEngineFollowBehind(t *testing.T, e *env) {
	eng := e.raw()
	var start uint64
	eng.Read(ctx, func(snap store.Snapshot) error { start = snap.Revision(); return nil })
	var revs []uint64
	for i := range 3 {
		revs = append(revs, commit(t, eng, put(store.TableAudit, fmt.Sprint(i), "x")))
	}
	var f follower
	stop, err := eng.Follow(start, f.apply)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	revs = append(revs, commit(t, eng, put(store.TableAudit, "3", "x")))
	eventually(t, "the change sets since the start delivered", func() bool {
		got := f.sets()
		return len(got) > 0 && got[len(got)-1].Revision == revs[3]
	})
	got := f.sets()
	if got[0].Resync {
		if len(got) != 2 || got[0].Revision < revs[2] {
			t.Errorf("after a Resync at revision %d came %d more change sets", got[0].Revision, len(got)-1)
		}
		return
	}
	if len(got) != 4 {
		t.Fatalf("%d change sets, want the 4 after revision %d", len(got), start)
	}
	for i, cs := range got {
		if cs.Revision != revs[i] {
			t.Errorf("change set %d has revision %d, want %d", i, cs.Revision, revs[i])
		}
	}
}

func testEngineClosed(t *testing.T, e *env) {
	eng := e.raw()
	commit(t, eng, put(store.TableApps, "a", "va"))
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		t.Errorf("a second Close = %v", err)
	}
	if _, err := eng.Commit(ctx, put(store.TableApps, "b", "vb")); err == nil {
		t.Error("a closed engine committed")
	}
	if err := eng.Read(ctx, func(store.Snapshot) error { return nil }); err == nil {
		t.Error("a closed engine gave a snapshot")
	}
}
