package etcd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"apiscopes/store"
)

// follower is one Follow: a watch on the prefix, resumed where it broke
// off, and its position.
type follower struct {
	e     *Engine
	apply func(store.ChangeSet)
	done  chan struct{} // closed when run returns: apply is not called again

	// through is the revision the follower is known to be complete up to:
	// every change under the prefix at or before it has been applied (a
	// progress notification moves it past revisions that changed other
	// prefixes). applied is the last revision of a change set it applied.
	through atomic.Uint64
	applied atomic.Uint64
}

// Follow implements store.Engine with a watch on the prefix from after+1:
// one change set per etcd revision (a range removal as one removal per
// key), in revision order, each once. If the watch breaks, it resumes
// after the last revision delivered; if the cluster compacted that
// revision away, the follower is sent a change set with Resync set and the
// watch resumes from the cluster's current revision.
//
// The watch requires a leader: a member cut off from the others ends it,
// and it resumes on a member that has one.
//
// stop waits until apply has returned for the last time; it must not be
// called from apply.
func (e *Engine) Follow(after uint64, apply func(store.ChangeSet)) (stop func(), err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, store.ErrClosed
	}
	ctx, cancel := context.WithCancel(e.ctx)
	f := &follower{e: e, apply: apply, done: make(chan struct{})}
	f.through.Store(after)
	f.applied.Store(after)
	e.follows[f] = struct{}{}
	go f.run(ctx, after)
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-f.done
			e.mu.Lock()
			delete(e.follows, f)
			e.mu.Unlock()
		})
	}, nil
}

const (
	minBackoff = 20 * time.Millisecond
	maxBackoff = time.Second
)

// jittered is d give or take a quarter, so that replicas that fail
// together do not try again together.
func jittered(d time.Duration) time.Duration {
	return d - d/4 + rand.N(d/2+1)
}

func (f *follower) run(ctx context.Context, after uint64) {
	defer close(f.done)
	next := int64(after) + 1
	wait := minBackoff
	var w *openWatch // a watch resync opened, to go on with
	for ctx.Err() == nil {
		from := next
		var compacted bool
		if w == nil {
			w = f.open(ctx, f.e.member(), next, false)
		}
		m := w.m
		next, compacted = f.watch(ctx, w, next)
		w = nil
		if ctx.Err() != nil {
			return
		}
		if compacted {
			var ok bool
			if w, next, ok = f.resync(ctx); !ok {
				return
			}
			wait = minBackoff
			continue
		}
		if next > from {
			wait = minBackoff // it made progress: resume at once
		}
		select {
		case <-time.After(jittered(wait)):
		case <-m.moved: // on the new member at once
			wait = minBackoff
			continue
		case <-ctx.Done():
			return
		}
		wait = min(2*wait, maxBackoff)
	}
}

// openWatch is a watch on the prefix through one member, ended by cancel
// or when the stream moves off the member.
type openWatch struct {
	m      *streamMember
	ch     clientv3.WatchChan
	cancel context.CancelFunc
}

// open starts a watch on the prefix from revision from, through m; with
// created, its first answer says that the member has it in place.
func (f *follower) open(ctx context.Context, m *streamMember, from int64, created bool) *openWatch {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	go func() { // a silent member never ends the watch: the move does
		select {
		case <-m.moved:
			cancel()
		case <-wctx.Done():
		}
	}()
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithProgressNotify()}
	if created {
		opts = append(opts, clientv3.WithCreatedNotify())
	}
	return &openWatch{m: m, ch: m.cli.Watch(wctx, f.e.prefix, opts...), cancel: cancel}
}

// watch delivers change sets from revision from, from the watch w, until
// it ends or the stream moves off its member; it ends w. It returns the
// revision to resume from, and whether the cluster had compacted the
// revisions in between away.
func (f *follower) watch(ctx context.Context, w *openWatch, from int64) (next int64, compacted bool) {
	defer w.cancel()
	next = from
	for resp := range w.ch {
		if resp.CompactRevision != 0 {
			return next, true
		}
		if resp.Err() != nil {
			return next, false
		}
		if resp.IsProgressNotify() {
			f.advance(uint64(resp.Header.Revision))
			continue
		}
		// etcd never splits one revision's events over two responses.
		evs := resp.Events
		for len(evs) > 0 {
			rev := evs[0].Kv.ModRevision
			n := 1
			for n < len(evs) && evs[n].Kv.ModRevision == rev {
				n++
			}
			if rev >= next { // a watch resync opened may repeat what the reload read
				f.deliver(rev, evs[:n])
				next = rev + 1
			}
			evs = evs[n:]
		}
	}
	return next, false
}

// deliver applies the events of one revision as one change set.
func (f *follower) deliver(rev int64, evs []*clientv3.Event) {
	cs := store.ChangeSet{Revision: uint64(rev), Changes: make([]store.Change, 0, len(evs))}
	for _, ev := range evs {
		t, k, ok := f.e.split(ev.Kv.Key)
		if !ok {
			continue
		}
		c := store.Change{Table: t, Key: k}
		if ev.Type == mvccpb.PUT {
			c.Value = value(ev.Kv)
		}
		cs.Changes = append(cs.Changes, c)
	}
	f.apply(cs)
	f.applied.Store(uint64(rev))
	f.advance(uint64(rev))
}

// resync tells the follower to read a new snapshot, after the cluster
// compacted away changes it had not had, and returns the watch to go on
// with and the revision it starts at.
//
// The watch is opened, and in place on the member, before the follower is
// told: the member keeps every change after the revision for it, however
// long the follower takes to read its snapshot (a million keys take
// seconds) and however often the cluster compacts meanwhile. Opened after
// the reload instead, a watch would find the reload's revision compacted
// whenever the reload took longer than the cluster keeps history, and the
// follower would reload again, and again: one fall behind costs one
// reload. The revision is read first, so the snapshot the follower reads
// is at or after it; changes the snapshot already holds come again
// through the watch and are passed over by their revision (the store's
// index skips what it has, see store.ChangeSet).
//
// Failures are tried again after a back-off that doubles up to a second,
// jittered, so that replicas that fell behind together do not ask the
// cluster together.
func (f *follower) resync(ctx context.Context) (w *openWatch, next int64, ok bool) {
	for wait := minBackoff; ; wait = min(2*wait, maxBackoff) {
		rctx, cancel := f.e.request(ctx)
		rev, err := f.e.currentRevision(rctx)
		if err == nil {
			w = f.open(ctx, f.e.member(), rev+1, true)
			err = w.created(rctx)
		}
		cancel()
		if err == nil {
			f.apply(store.ChangeSet{Revision: uint64(rev), Resync: true})
			f.applied.Store(uint64(rev))
			f.advance(uint64(rev))
			return w, rev + 1, true
		}
		if w != nil {
			w.cancel()
		}
		select {
		case <-time.After(jittered(wait)):
		case <-ctx.Done():
			return nil, 0, false
		}
	}
}

// created waits for the watch's first answer, which says the member has
// it in place.
func (w *openWatch) created(ctx context.Context) error {
	select {
	case resp, ok := <-w.ch:
		switch {
		case !ok:
			return errors.New("the watch ended before it started")
		case resp.CompactRevision != 0:
			return fmt.Errorf("the watch's revision was compacted (at %d)", resp.CompactRevision)
		case resp.Err() != nil:
			return resp.Err()
		case !resp.Created:
			return errors.New("the watch answered before it said it started")
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// advance records that the follower is complete up to rev, and wakes a
// confirmation waiting for it.
func (f *follower) advance(rev uint64) {
	if rev <= f.through.Load() {
		return
	}
	f.through.Store(rev)
	f.e.raise(int64(rev))
	f.e.mu.Lock()
	close(f.e.advanced)
	f.e.advanced = make(chan struct{})
	f.e.mu.Unlock()
}

// appliedThrough is the revision a commit that changed nothing reports:
// the last change set every follower has applied, which a writer waiting
// for the commit's revision need not wait for. Without followers it is
// the cluster's revision the commit saw.
func (e *Engine) appliedThrough(rev uint64) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.follows) == 0 {
		return rev
	}
	low := rev
	for f := range e.follows {
		low = min(low, f.applied.Load())
	}
	return low
}
