package etcd

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A replica answers from what its change stream delivered. It is current
// while it can show that the stream has caught up with the cluster
// recently: a linearizable read started at time T returned revision R, and
// every follower has since applied every change up to R. Then at T no
// change older than T was missing, so the replica lags by no more than the
// time since T. The engine makes such a confirmation every sixth of
// Config.MaxStaleness, through the stream's member (see stream.go);
// Current says whether the latest is recent enough.

// confirmation is the latest revision shown delivered, and when the read
// that returned it started.
type confirmation struct {
	rev uint64
	at  time.Time
}

// Confirmed returns the latest confirmation: every follower had applied
// every change up to rev, a revision the cluster had reached at time at.
// at is zero before the first confirmation.
func (e *Engine) Confirmed() (rev uint64, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.confirmed.rev, e.confirmed.at
}

// Current reports whether the change stream is confirmed to lag the
// cluster by less than maxStaleness: a replica that is not current must
// not answer from its index (it fails closed). maxStaleness should be at
// least Config.MaxStaleness, which paces the confirmations.
func (e *Engine) Current(maxStaleness time.Duration) bool {
	_, at := e.Confirmed()
	return !at.IsZero() && time.Since(at) < maxStaleness
}

// Through is the revision every follower is complete up to: each has
// applied every change under the prefix at or before it, and there are
// none between its last change set and it (a progress report of its watch
// says so). A follower whose last change set is at R and that is complete
// through T shows the database exactly as it was at every revision from R
// to T. Without followers it is 0.
func (e *Engine) Through() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var low uint64
	first := true
	for f := range e.follows {
		if t := f.through.Load(); first || t < low {
			low, first = t, false
		}
	}
	return low
}

// confirmLoop confirms twice a round (a round is a third of the bound), so
// that a member that stops answering is noticed, and the stream moved off
// it, within a round: a confirmation with no answer in half a round moves
// the stream to a member that answers, and confirms again through it.
func (e *Engine) confirmLoop(round time.Duration) {
	defer e.loops.Done()
	half := round / 2
	t := time.NewTicker(half)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(e.ctx, half)
		err := e.Confirm(ctx)
		cancel()
		if err != nil && e.ctx.Err() == nil && e.move(half) {
			ctx, cancel := context.WithTimeout(e.ctx, half)
			_ = e.Confirm(ctx)
			cancel()
		}
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Confirm makes a confirmation now: it reads the cluster's revision
// linearizably, then waits until every follower has applied every change
// up to it, asking the watches for progress reports while they are quiet.
// It fails if ctx ends first; the last confirmation then stands, and ages.
func (e *Engine) Confirm(ctx context.Context) error {
	start := time.Now()
	m := e.member()
	rctx, cancel := e.request(ctx)
	rev, err := e.revisionThrough(rctx, m.cli)
	cancel()
	if err != nil {
		return e.readError(err)
	}
	wait := 5 * time.Millisecond
	for {
		advanced, behind := e.behind(uint64(rev))
		if !behind {
			e.mu.Lock()
			if start.After(e.confirmed.at) {
				e.confirmed = confirmation{rev: uint64(rev), at: start}
			}
			e.mu.Unlock()
			return nil
		}
		select {
		case <-advanced:
			continue
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		// Quiet: a watch reports how far it is only when asked. A member
		// answers once every watch of the stream has caught up with it.
		_ = m.cli.RequestProgress(clientv3.WithRequireLeader(ctx))
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// behind reports whether a follower is not yet complete up to rev, and
// the channel closed when one gets further.
func (e *Engine) behind(rev uint64) (advanced <-chan struct{}, behind bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for f := range e.follows {
		if f.through.Load() < rev {
			return e.advanced, true
		}
	}
	return e.advanced, false
}
