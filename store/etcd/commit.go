package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"apiscopes/store"
)

// Commit implements store.Engine: one etcd transaction that compares every
// condition (the value is exactly this, or the key was never created) and
// applies every operation, or changes nothing. A failed comparison is
// store.ErrStale. A transaction the cluster refused is an error matching
// store.ErrWriteFailed; one it did not answer in time also matches
// ErrOutcomeUnknown, as it may yet have been applied.
//
// A transaction that changed nothing (only removals of absent keys) makes
// no revision in etcd; Commit then returns the last revision its followers
// applied, so a writer waiting for its own revision does not wait.
func (e *Engine) Commit(ctx context.Context, b *store.Batch) (uint64, error) {
	if e.isClosed() {
		return 0, store.ErrClosed
	}
	cmps := make([]clientv3.Cmp, 0, len(b.Conds))
	for _, c := range b.Conds {
		k := e.key(c.Table, c.Key)
		if c.Value == nil {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.Value(k), "=", string(c.Value)))
		}
	}
	ops, puts := e.plan(b.Ops)

	ctx, cancel := e.request(clientv3.WithRequireLeader(ctx))
	defer cancel()
	var resp *clientv3.TxnResponse
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		var err error
		resp, err = e.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err == nil {
			break
		}
		// A member without a leader refuses the transaction before
		// proposing it: wait for an election, within the timeout.
		if errors.Is(err, rpctypes.ErrNoLeader) {
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
			}
		}
		return 0, e.commitError(err)
	}
	e.raise(resp.Header.Revision) // a refusal too: the snapshot it came from is out of date
	if !resp.Succeeded {
		return 0, store.ErrStale
	}
	if puts == 0 {
		deleted := int64(0)
		for _, r := range resp.Responses {
			if d := r.GetResponseDeleteRange(); d != nil {
				deleted += d.Deleted
			}
		}
		if deleted == 0 {
			return e.appliedThrough(uint64(resp.Header.Revision)), nil
		}
	}
	return uint64(resp.Header.Revision), nil
}

// plan turns a batch's operations, applied in order, into etcd operations
// that touch disjoint keys, as etcd requires of one transaction: a key put
// inside a range removed in the same batch is cut out of the range, and an
// operation on a key of a range removed after it is left out.
func (e *Engine) plan(ops []store.Op) (out []clientv3.Op, puts int) {
	type point struct {
		key   string
		value []byte
		put   bool
	}
	type span struct{ start, end string }
	var points []point
	var spans []span
	at := map[string]int{} // key → index in points
	inSpan := func(k string, sp span) bool { return k >= sp.start && k < sp.end }
	for _, op := range ops {
		switch op.Kind {
		case store.OpPut, store.OpDelete:
			k := e.key(op.Table, op.Key)
			p := point{key: k, value: op.Value, put: op.Kind == store.OpPut}
			if i, ok := at[k]; ok {
				points[i] = p
			} else {
				at[k] = len(points)
				points = append(points, p)
			}
		case store.OpDeletePrefix:
			start := e.base(op.Table) + string(op.Key)
			sp := span{start, prefixEnd(start)}
			covered := false
			spans = slices.DeleteFunc(spans, func(o span) bool {
				covered = covered || o.start <= sp.start && sp.end <= o.end
				return sp.start <= o.start && o.end <= sp.end // prefix ranges nest or are apart
			})
			if !covered {
				spans = append(spans, sp)
			}
			points = slices.DeleteFunc(points, func(p point) bool { return inSpan(p.key, sp) })
			clear(at)
			for i, p := range points {
				at[p.key] = i
			}
		}
	}
	for _, sp := range spans {
		// Cut the keys put afterwards out of the range; a removal of a key
		// in it is the range's.
		var cuts []string
		points = slices.DeleteFunc(points, func(p point) bool {
			if !inSpan(p.key, sp) {
				return false
			}
			if p.put {
				cuts = append(cuts, p.key)
				return false
			}
			return true
		})
		slices.Sort(cuts)
		from := sp.start
		for _, k := range cuts {
			if from < k {
				out = append(out, clientv3.OpDelete(from, clientv3.WithRange(k)))
			}
			from = k + "\x00"
		}
		if from < sp.end {
			out = append(out, clientv3.OpDelete(from, clientv3.WithRange(sp.end)))
		}
	}
	for _, p := range points {
		if p.put {
			out = append(out, clientv3.OpPut(p.key, string(p.value)))
			puts++
		} else {
			out = append(out, clientv3.OpDelete(p.key))
		}
	}
	return out, puts
}

// ErrOutcomeUnknown matches a commit the cluster did not answer in time (a
// lost connection, a leader change, a timeout): it may have been applied
// or not. Reading again tells.
var ErrOutcomeUnknown = store.ErrOutcomeUnknown

// CommitError is a commit the cluster refused or did not answer. It matches
// store.ErrWriteFailed, and ErrOutcomeUnknown when the change may have
// been applied all the same.
type CommitError struct {
	Cluster string // the cluster, as messages name it
	Err     error  // etcd's error
	Unknown bool   // the outcome is unknown: the change may have been applied
}

func (e *CommitError) Error() string {
	cause, remedy := e.explain()
	if e.Unknown {
		return fmt.Sprintf("the change may not have been saved to %s: %s (%v). %s", e.Cluster, cause, e.Err, remedy)
	}
	return fmt.Sprintf("%v to %s: %s (%v); nothing was changed. %s", store.ErrWriteFailed, e.Cluster, cause, e.Err, remedy)
}

func (e *CommitError) Is(target error) bool {
	return target == store.ErrWriteFailed || e.Unknown && target == ErrOutcomeUnknown
}

func (e *CommitError) Unwrap() error { return e.Err }

// Reason is the cause in a few words, for a message that names the
// cluster elsewhere.
func (e *CommitError) Reason() string { cause, _ := e.explain(); return cause }

// Remedy says what to do about it, as a sentence.
func (e *CommitError) Remedy() string { _, remedy := e.explain(); return remedy }

func (e *CommitError) explain() (cause, remedy string) {
	switch err := e.Err; {
	case e.Unknown:
		return "the cluster did not confirm it in time", "Reload to see whether it was saved, and make it again if not."
	case errors.Is(err, rpctypes.ErrNoSpace):
		return "the cluster's database is full",
			"Ask the cluster's operator to compact and defragment it or raise its quota, then try again."
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return "the change is larger than the cluster takes in one transaction", "Make it in smaller parts."
	case errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrAuthFailed),
		errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrUserEmpty):
		return "the cluster refused this user the write", "Check the etcd user's permissions on the prefix."
	case errors.Is(err, rpctypes.ErrNoLeader):
		return "the cluster has no leader (too few members reachable)", "Try again once the cluster has recovered."
	}
	return "the cluster refused the write", "Try again; if it keeps failing, check the cluster's health."
}

// commitError classifies a failed transaction. Only a refusal etcd makes
// before it proposes the transaction, or one every member makes the same
// way when it applies it, is sure to have changed nothing.
func (e *Engine) commitError(err error) error {
	definite := false
	for _, refusal := range []error{rpctypes.ErrNoSpace, rpctypes.ErrTooManyOps, rpctypes.ErrRequestTooLarge,
		rpctypes.ErrDuplicateKey, rpctypes.ErrEmptyKey, rpctypes.ErrPermissionDenied, rpctypes.ErrAuthFailed,
		rpctypes.ErrInvalidAuthToken, rpctypes.ErrUserEmpty, rpctypes.ErrAuthOldRevision, rpctypes.ErrNoLeader,
		rpctypes.ErrTooManyRequests} {
		if errors.Is(err, refusal) {
			definite = true
		}
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.ResourceExhausted:
		definite = true // refused as it was asked, not lost on the way
	}
	if e.isClosed() && !definite {
		return &CommitError{Cluster: e.name, Err: fmt.Errorf("%w: %v", store.ErrClosed, err), Unknown: true}
	}
	return &CommitError{Cluster: e.name, Err: err, Unknown: !definite}
}

// A refused or unconfirmed commit is told to people as the file's are.
var _ store.WriteFailure = (*CommitError)(nil)
