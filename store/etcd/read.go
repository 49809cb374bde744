package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"apiscopes/store"
)

// Pages of a scan: the first is small, as most scans stop early (the first
// apps of a list, the latest audit events); each next one is larger, so a
// whole table costs a few round trips.
const (
	firstPage = 64
	maxPage   = 4096
)

// Read implements store.Engine. The snapshot reads lazily: the first read
// is linearizable and fixes the snapshot's revision, so it shows every
// change committed before Read was called; every later read asks for that
// revision, from whichever member answers. A read fails if the cluster
// compacted the revision away meanwhile (an etcd compaction keeps far more
// than one Read takes).
func (e *Engine) Read(ctx context.Context, fn func(store.Snapshot) error) error {
	if e.isClosed() {
		return store.ErrClosed
	}
	return fn(&snapshot{e: e, ctx: ctx})
}

type snapshot struct {
	e   *Engine
	ctx context.Context

	mu    sync.Mutex // held while the first read fixes rev; guards seen
	rev   int64
	seen  map[string]*clientv3.GetResponse // answers so far, by request: the revision never changes
	bytes int                              // the size of the values in seen
}

// maxSeen bounds what a snapshot keeps of its answers, by the size of
// their values: enough for the records a rule reads again and again (an
// app's keys, once per key it creates), not a copy of a big table.
const maxSeen = 4 << 20

func (s *snapshot) Revision() uint64 {
	rev, err := s.revision()
	if err != nil {
		return 0 // only before any read succeeded, and then nothing was read
	}
	return uint64(rev)
}

// revision fixes the snapshot's revision if no read has yet.
func (s *snapshot) revision() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rev == 0 {
		ctx, cancel := s.e.request(s.ctx)
		defer cancel()
		rev, err := s.e.currentRevision(ctx)
		if err != nil {
			return 0, s.e.readError(err)
		}
		s.rev = rev
	}
	return s.rev, nil
}

// get reads at the snapshot's revision: linearizably if it is the first
// read, else serializably from any member that has applied the revision,
// falling back to the leader's view for a member that has not yet.
//
// The snapshot keeps its answers: a rule that reads the same records again
// (the store checks a new key's name against every key of its app, once
// per key it creates) asks the cluster once.
func (s *snapshot) get(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if s.e.isClosed() {
		return nil, store.ErrClosed
	}
	op := clientv3.OpGet(key, opts...)
	// A request is its range, limit and whether it asks for keys only
	// (which scanBack alone does, sorted backwards).
	req := fmt.Sprintf("%q %q %d %v", op.KeyBytes(), op.RangeBytes(), op.Limit(), op.IsKeysOnly())
	ctx, cancel := s.e.request(s.ctx)
	defer cancel()
	s.mu.Lock()
	if resp, ok := s.seen[req]; ok {
		s.mu.Unlock()
		return resp, nil
	}
	if s.rev == 0 {
		defer s.mu.Unlock()
		resp, err := s.e.cli.Get(ctx, key, opts...)
		if err != nil {
			return nil, s.e.readError(err)
		}
		s.rev = resp.Header.Revision
		s.keep(req, resp)
		return resp, nil
	}
	rev := s.rev
	s.mu.Unlock()
	resp, err := s.e.cli.Get(ctx, key, append(opts, clientv3.WithRev(rev), clientv3.WithSerializable())...)
	if errors.Is(err, rpctypes.ErrFutureRev) {
		resp, err = s.e.cli.Get(ctx, key, append(opts, clientv3.WithRev(rev))...)
	}
	if err != nil {
		return nil, s.e.readError(err)
	}
	s.mu.Lock()
	s.keep(req, resp)
	s.mu.Unlock()
	return resp, nil
}

// keep remembers an answer, while the snapshot's answers are small; s.mu
// is held.
func (s *snapshot) keep(req string, resp *clientv3.GetResponse) {
	n := 0
	for _, kv := range resp.Kvs {
		n += len(kv.Key) + len(kv.Value)
	}
	if s.bytes+n > maxSeen {
		return
	}
	if s.seen == nil {
		s.seen = map[string]*clientv3.GetResponse{}
	}
	s.seen[req] = resp
	s.bytes += n
}

func (s *snapshot) Get(t store.Table, key []byte) ([]byte, error) {
	resp, err := s.get(s.e.key(t, key))
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	return slices.Clone(value(resp.Kvs[0])), nil // the caller's to keep: a kept answer is shared
}

// value is a record's value: never nil, as nil means "no record".
func value(kv *mvccpb.KeyValue) []byte {
	if kv.Value == nil {
		return []byte{}
	}
	return kv.Value
}

func (s *snapshot) Scan(t store.Table, prefix []byte, o store.ScanOptions, fn func(k, v []byte) error) error {
	base := s.e.base(t)
	start := base + string(prefix)
	end := prefixEnd(start)
	if o.From != nil {
		from := s.e.key(t, o.From)
		if !o.Reverse && from > start {
			start = from
		}
		if o.Reverse && from < end {
			end = from
		}
	}
	if start >= end {
		return nil
	}
	visit := func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			if err := fn(kv.Key[len(base):], value(kv)); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if o.Reverse {
		err = s.scanBack(start, end, visit)
	} else {
		err = s.scanOn(start, end, visit)
	}
	if errors.Is(err, store.ErrStop) {
		return nil
	}
	return err
}

// scanOn visits [start, end) in key order, a page at a time.
func (s *snapshot) scanOn(start, end string, visit func([]*mvccpb.KeyValue) error) error {
	for page := int64(firstPage); ; page = min(page*4, maxPage) {
		resp, err := s.get(start, clientv3.WithRange(end), clientv3.WithLimit(page))
		if err != nil {
			return err
		}
		if err := visit(resp.Kvs); err != nil {
			return err
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// scanBack visits [start, end) in reverse key order, a page at a time.
// etcd sorts a descending range in full before it limits it, so each page
// first asks for keys only (from the in-memory index, not the disk), then
// reads the values of just those keys in key order and visits them
// backwards.
func (s *snapshot) scanBack(start, end string, visit func([]*mvccpb.KeyValue) error) error {
	for page := int64(firstPage); ; page = min(page*4, maxPage) {
		keys, err := s.get(start, clientv3.WithRange(end), clientv3.WithLimit(page), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
		if err != nil {
			return err
		}
		if len(keys.Kvs) == 0 {
			return nil
		}
		low := string(keys.Kvs[len(keys.Kvs)-1].Key)
		resp, err := s.get(low, clientv3.WithRange(end))
		if err != nil {
			return err
		}
		if len(resp.Kvs) != len(keys.Kvs) {
			return fmt.Errorf("read %s: %d records in a page of %d keys at one revision", s.e.name, len(resp.Kvs), len(keys.Kvs))
		}
		slices.Reverse(resp.Kvs)
		if err := visit(resp.Kvs); err != nil {
			return err
		}
		if !keys.More {
			return nil
		}
		end = low
	}
}

// readError names the cluster in a failed read.
func (e *Engine) readError(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("read %s: %w (the cluster compacted the records away while they were read; try again)", e.name, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("read %s: no answer within %v: %w", e.name, e.cfg.RequestTimeout, err)
	}
	return fmt.Errorf("read %s: %w", e.name, err)
}
