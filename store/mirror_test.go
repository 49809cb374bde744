package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
)

// lagging is an engine shared by two stores whose change stream to one of
// them a test can hold back, as a replica's watch lags; it counts that
// store's reads and its commits refused as stale.
type lagging struct {
	Engine
	reads, stale atomic.Int32
	commits      atomic.Int32 // that succeeded

	mu    sync.Mutex
	held  bool
	queue []ChangeSet
	apply func(ChangeSet)
}

func (l *lagging) Read(ctx context.Context, fn func(Snapshot) error) error {
	l.reads.Add(1)
	return l.Engine.Read(ctx, fn)
}

func (l *lagging) Commit(ctx context.Context, b *Batch) (uint64, error) {
	rev, err := l.Engine.Commit(ctx, b)
	switch {
	case errors.Is(err, ErrStale):
		l.stale.Add(1)
	case err == nil:
		l.commits.Add(1)
	}
	return rev, err
}

func (l *lagging) Follow(after uint64, apply func(ChangeSet)) (func(), error) {
	l.mu.Lock()
	l.apply = apply
	l.mu.Unlock()
	return l.Engine.Follow(after, func(cs ChangeSet) {
		l.mu.Lock()
		if l.held {
			l.queue = append(l.queue, cs)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		apply(cs)
	})
}

func (l *lagging) hold() {
	l.mu.Lock()
	l.held = true
	l.mu.Unlock()
}

// release delivers what was held back, and what comes after at once.
func (l *lagging) release() {
	l.mu.Lock()
	queue := l.queue
	l.held, l.queue = false, nil
	apply := l.apply
	l.mu.Unlock()
	for _, cs := range queue {
		apply(cs)
	}
}

func (*lagging) Close() error { return nil }

// twoReplicas is a store on a lagging view of a memory engine, and a
// second store on the same engine.
func twoReplicas(t *testing.T) (a *Store, lag *lagging, b *Store) {
	t.Helper()
	eng := NewMemory()
	t.Cleanup(func() { eng.Close() })
	lag = &lagging{Engine: eng}
	a, err := New(lag, WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = New(noCloseEngine{eng}, WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, lag, b
}

type noCloseEngine struct{ Engine }

func (noCloseEngine) Close() error { return nil }

// A change whose records the mirror holds (a new key: its app, the id
// counter, the audit head) commits without reading the engine first.
func TestMirrorSavesTheRead(t *testing.T) {
	a, lag, _ := twoReplicas(t)
	app := mustCreateApp(t, a, "Risk", scopes.Full())
	before := lag.reads.Load()
	mustCreateKey(t, a, app.ID, "ci")
	if n := lag.reads.Load() - before; n != 0 {
		t.Errorf("CreateKey read the engine %d times; want none", n)
	}
}

// A change made on a mirror the stream has not brought up to date is
// refused by its conditions and made again on a real snapshot: it never
// writes over another replica's change, and a record the mirror lacks
// (an app just made elsewhere) is looked for before anything is refused.
func TestMirrorBehindTheStream(t *testing.T) {
	a, lag, b := twoReplicas(t)
	app := mustCreateApp(t, a, "Risk", scopes.Full())
	waitFor(t, func() bool { _, err := b.App(t.Context(), app.ID); return err == nil })

	lag.hold()
	renamed, err := b.SaveApp(t.Context(), admin, app, "Risk & Compliance", app.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.CreateApp(t.Context(), admin, "Other", scopes.Full())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	committed := lag.commits.Load()
	go func() { _, _, err := a.CreateKey(t.Context(), admin, app.ID, "ci"); done <- err }()
	waitFor(t, func() bool { return lag.stale.Load() == 1 }) // the mirror's attempt, refused
	go func() { _, _, err := a.CreateKey(t.Context(), admin, other.ID, "ci"); done <- err }()
	// The first commits on a real snapshot and waits for the stream to
	// bring its change back, which is held; the second waits its turn.
	waitFor(t, func() bool { return lag.commits.Load() == committed+1 })
	lag.release()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("CreateKey behind the stream: %v", err)
		}
	}
	got, err := a.App(t.Context(), app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != renamed.Name || got.Keys != 1 {
		t.Errorf("app after a key made behind the stream: %q with %d keys; want %q with 1", got.Name, got.Keys, renamed.Name)
	}
	if got, err := a.App(t.Context(), other.ID); err != nil || got.Keys != 1 {
		t.Errorf("the app made elsewhere: %+v, %v; want 1 key", got, err)
	}
	if err := a.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not within 5 s")
		}
	}
}
