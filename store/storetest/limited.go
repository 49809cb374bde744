package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"apiscopes/store"
)

// etcd's default limits on one transaction: every change the store makes
// must fit them, whatever engine it runs on.
const (
	MaxOps   = 128             // operations, and comparisons, in one transaction (--max-txn-ops)
	MaxBytes = 3 * 1024 * 1024 // request size in bytes (--max-request-bytes 1.5 MiB, plus gRPC's framing, rounded up)
)

// Limited is an engine that refuses a batch etcd would refuse, and counts
// what it commits. etcd refuses a transaction of more than MaxOps
// operations or comparisons, one that writes a key twice, and one that
// writes a key inside a range it also removes.
type Limited struct {
	keyUses int // puts of "k…" keys in the usage table
	store.Engine

	mu      sync.Mutex
	batches int
	maxOps  int
	refused []string
	foreign bool // a test committed a batch of its own through it (commit, Reseal)
}

// markForeign notes that a test changed the database behind its store's
// back through eng, if eng is a Limited.
func markForeign(eng store.Engine) {
	if l, ok := eng.(*Limited); ok {
		l.mu.Lock()
		l.foreign = true
		l.mu.Unlock()
	}
}

// Foreign reports whether a test changed the database behind the store's
// back through the engine.
func (l *Limited) Foreign() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.foreign
}

// Limit wraps e.
func Limit(e store.Engine) *Limited { return &Limited{Engine: e} }

// Commit implements store.Engine: a batch etcd would refuse is refused (and
// noted, for Verify), anything else goes to the wrapped engine.
func (l *Limited) Commit(ctx context.Context, b *store.Batch) (uint64, error) {
	if why := refusal(b); why != "" {
		l.mu.Lock()
		l.refused = append(l.refused, why)
		l.mu.Unlock()
		return 0, fmt.Errorf("etcd would refuse this change: %s", why)
	}
	rev, err := l.Engine.Commit(ctx, b)
	if err == nil {
		l.mu.Lock()
		l.batches++
		l.maxOps = max(l.maxOps, len(b.Ops), len(b.Conds))
		for _, op := range b.Ops {
			if op.Kind == store.OpPut {
				if op.Table == store.TableUsage && len(op.Key) > 0 && op.Key[0] == 'k' {
					l.keyUses++
				}
			}
		}
		l.mu.Unlock()
	}
	return rev, err
}

// CheckMedium passes the wrapped engine's check of its medium on, so that
// Store.Check runs it through the wrapper.
func (l *Limited) CheckMedium() error {
	if c, ok := l.Engine.(store.Checker); ok {
		return c.CheckMedium()
	}
	return nil
}

// refusal says why etcd would refuse b, or "".
func refusal(b *store.Batch) string {
	if len(b.Ops) > MaxOps {
		return fmt.Sprintf("%d operations, more than %d", len(b.Ops), MaxOps)
	}
	if len(b.Conds) > MaxOps {
		return fmt.Sprintf("%d comparisons, more than %d", len(b.Conds), MaxOps)
	}
	size := 0
	written := map[string]bool{}
	for _, c := range b.Conds {
		size += len(c.Table) + len(c.Key) + len(c.Value)
	}
	for _, op := range b.Ops {
		size += len(op.Table) + len(op.Key) + len(op.Value)
		if op.Kind != store.OpPut {
			continue
		}
		k := string(op.Table) + "\x00" + string(op.Key)
		if written[k] {
			return fmt.Sprintf("key %s/%x is written twice", op.Table, op.Key)
		}
		written[k] = true
		for _, del := range b.Ops {
			switch {
			case del.Kind == store.OpDelete && del.Table == op.Table && bytes.Equal(del.Key, op.Key),
				del.Kind == store.OpDeletePrefix && del.Table == op.Table && bytes.HasPrefix(op.Key, del.Key):
				return fmt.Sprintf("key %s/%x is written and removed", op.Table, op.Key)
			}
		}
	}
	if size > MaxBytes {
		return fmt.Sprintf("%d bytes, more than %d", size, MaxBytes)
	}
	return ""
}

// Batches is how many batches were committed.
func (l *Limited) Batches() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.batches
}

// MaxOpsSeen is the most operations or comparisons one committed batch had.
func (l *Limited) MaxOpsSeen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxOps
}

// KeyUses is how many notes of a key's last use were written (the usage
// table also holds each app's use of its scopes).
func (l *Limited) KeyUses() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keyUses
}

// Verify fails the test if a batch was refused.
func (l *Limited) Verify(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, why := range l.refused {
		t.Errorf("the store made a change etcd would refuse: %s", why)
	}
	l.refused = nil
}

// lagging is an engine whose change stream holds everything back until
// its store first commits: a replica that has not yet heard of the other
// replicas' latest changes when it acts on a request. It serves one
// follower, as a store follows its engine once.
type lagging struct {
	store.Engine

	deliver sync.Mutex // held while change sets are handed on: they go in order
	held    bool
	queue   []store.ChangeSet
	apply   func(store.ChangeSet)
}

func (l *lagging) Follow(after uint64, apply func(store.ChangeSet)) (func(), error) {
	l.deliver.Lock()
	l.apply = apply
	l.deliver.Unlock()
	return l.Engine.Follow(after, func(cs store.ChangeSet) {
		l.deliver.Lock()
		defer l.deliver.Unlock()
		if l.held {
			l.queue = append(l.queue, cs)
			return
		}
		apply(cs)
	})
}

func (l *lagging) Commit(ctx context.Context, b *store.Batch) (uint64, error) {
	rev, err := l.Engine.Commit(ctx, b)
	l.deliver.Lock()
	defer l.deliver.Unlock()
	if l.held {
		l.held = false
		for _, cs := range l.queue {
			l.apply(cs)
		}
		l.queue = nil
	}
	return rev, err
}
