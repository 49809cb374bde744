package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"apiscopes/store"
)

// Pages of a scan: the first is small, as most scans stop early (the first
// apps of a list, the latest audit events); each next one is larger, so a
// whole table costs a few round trips.
const (
	firstPage = 64
	maxPage   = 4096
)

// memberTries is how many members a read from any member tries before it
// asks for the leader's view instead.
const memberTries = 3

// maxSeen bounds what a snapshot keeps of its answers, by the size of
// their values: enough for the records a rule reads again and again (an
// app's keys, once per key it creates), not a copy of a big table.
const maxSeen = 4 << 20

// Read implements store.Engine. The snapshot reads lazily: the first read
// fixes the snapshot's revision, and every later read asks for that
// revision, from whichever member answers. The first read also reads the
// small tables of Config.prefetch whole, in the same request. A read fails
// if the cluster compacted the revision away meanwhile (an etcd compaction
// keeps far more than one Read takes).
//
// The first read is linearizable: the snapshot shows every change
// committed anywhere before Read was called. With Config.readAnyMember it
// is instead the newest state of whichever member answers, provided that
// member has a leader and is no older than anything this engine has
// written, applied from its change stream or confirmed (see Confirm); a
// member that is older is passed over. Such a snapshot shows this
// replica's own changes and never goes back in time, and lags the cluster
// no more than the change stream does, which Current bounds. That is
// enough for a change: its conditions are checked against the cluster's
// latest state when it commits, and a stale snapshot only costs a retry.
func (e *Engine) Read(ctx context.Context, fn func(store.Snapshot) error) error {
	if e.isClosed() {
		return store.ErrClosed
	}
	return fn(&snapshot{e: e, ctx: ctx})
}

type snapshot struct {
	e   *Engine
	ctx context.Context

	mu     sync.Mutex // held while the first read fixes rev; guards the rest
	rev    int64
	tables map[store.Table][]*mvccpb.KeyValue // the tables read whole, in key order
	misses map[store.Table]int                // reads of single records not in tables
	seen   map[request]*clientv3.GetResponse  // answers so far: the revision never changes
	bytes  int                                // the size of the values in seen
}

func (s *snapshot) Revision() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(nil); err != nil {
		return 0 // only before any read succeeded, and then nothing was read
	}
	return uint64(s.rev)
}

// request is one range read: [key, end) (end "": key alone), up to limit
// entries (0: all), keys only if keysOnly, and then sorted backwards
// (scanBack alone asks so).
type request struct {
	key, end string
	limit    int64
	keysOnly bool
}

func (r request) op(opts ...clientv3.OpOption) clientv3.Op {
	opts = append(opts, clientv3.WithLimit(r.limit))
	if r.end != "" {
		opts = append(opts, clientv3.WithRange(r.end))
	}
	if r.keysOnly {
		opts = append(opts, clientv3.WithKeysOnly(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	return clientv3.OpGet(r.key, opts...)
}

// begin makes the snapshot's first read if it has not been made: first (if
// any) and the prefetched tables, in one request; s.mu is held.
func (s *snapshot) begin(first *request) error {
	if s.rev != 0 {
		return nil
	}
	ctx, cancel := s.e.request(s.ctx)
	defer cancel()
	reqs := make([]request, 0, 1+len(s.e.cfg.prefetch))
	if first != nil {
		reqs = append(reqs, *first)
	}
	for _, t := range s.e.cfg.prefetch {
		reqs = append(reqs, request{key: s.e.base(t), end: prefixEnd(s.e.base(t))})
	}
	if len(reqs) == 0 {
		// etcd serves a transaction of no reads from any member, without
		// asking the leader: read one key no table uses instead.
		reqs = append(reqs, request{key: s.e.prefix})
	}
	resp, err := s.e.first(ctx, reqs)
	if err != nil {
		return err
	}
	s.rev = resp.Header.Revision
	rs := resp.Responses
	if first != nil {
		r := rs[0].GetResponseRange()
		s.keep(*first, &clientv3.GetResponse{Header: resp.Header, Kvs: r.Kvs, More: r.More, Count: r.Count})
		rs = rs[1:]
	}
	if s.tables == nil {
		s.tables = map[store.Table][]*mvccpb.KeyValue{}
	}
	for i, t := range s.e.cfg.prefetch {
		s.tables[t] = rs[i].GetResponseRange().Kvs
	}
	return nil
}

// first is a snapshot's first read, which fixes its revision: one
// read-only transaction, at one revision: linearizable, or with
// readAnyMember from whichever member answers if that member is no older
// than the floor (what this engine wrote, applied or confirmed), else
// linearizable.
func (e *Engine) first(ctx context.Context, reqs []request) (*clientv3.TxnResponse, error) {
	ops := make([]clientv3.Op, len(reqs))
	if e.cfg.readAnyMember {
		for i, r := range reqs {
			ops[i] = r.op(clientv3.WithSerializable())
		}
		// Requests go to the members in turn: a member a moment behind
		// (one that has not applied this engine's last commit yet) is
		// passed over for the next.
		for range memberTries {
			resp, err := e.cli.Txn(clientv3.WithRequireLeader(ctx)).Then(ops...).Commit()
			if err == nil && resp.Header.Revision >= e.floor.Load() {
				e.raise(resp.Header.Revision)
				return resp, nil
			}
			if err != nil && ctx.Err() != nil {
				return nil, e.readError(err)
			}
		}
	}
	for i, r := range reqs {
		ops[i] = r.op()
	}
	// The client retries a failed read on the next member, but not a
	// transaction, even one that only reads: retry it here while the
	// cluster elects a leader.
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		resp, err := e.cli.Txn(ctx).Then(ops...).Commit()
		if err == nil {
			e.raise(resp.Header.Revision)
			return resp, nil
		}
		if !unavailable(err) {
			return nil, e.readError(err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, e.readError(err)
		}
	}
}

// unavailable reports an error of a member or a cluster that may be gone
// in a moment: a lost leader, a stopping member, a broken connection.
func unavailable(err error) bool {
	var coded interface{ Code() codes.Code }
	if errors.As(err, &coded) {
		return coded.Code() == codes.Unavailable
	}
	return status.Code(err) == codes.Unavailable
}

// raise moves the floor of later snapshots up to rev: a revision this
// engine knows the cluster reached.
func (e *Engine) raise(rev int64) {
	for {
		f := e.floor.Load()
		if rev <= f || e.floor.CompareAndSwap(f, rev) {
			return
		}
	}
}

// get answers r at the snapshot's revision. A first read fixes the
// revision; a later one asks any member that has applied the revision, or
// the leader's view from one that has not.
//
// The snapshot keeps its answers: a rule that reads the same records again
// (the store checks a new key's name against every key of its app, once
// per key it creates) asks the cluster once.
func (s *snapshot) get(r request) (*clientv3.GetResponse, error) {
	if s.e.isClosed() {
		return nil, store.ErrClosed
	}
	s.mu.Lock()
	if resp, ok := s.seen[r]; ok {
		s.mu.Unlock()
		return resp, nil
	}
	if s.rev == 0 {
		defer s.mu.Unlock()
		if err := s.begin(&r); err != nil {
			return nil, err
		}
		return s.seen[r], nil
	}
	rev := s.rev
	s.mu.Unlock()
	ctx, cancel := s.e.request(s.ctx)
	defer cancel()
	var resp clientv3.OpResponse
	var err error
	for range memberTries {
		resp, err = s.e.cli.Do(ctx, r.op(clientv3.WithRev(rev), clientv3.WithSerializable()))
		if !errors.Is(err, rpctypes.ErrFutureRev) {
			break
		}
	}
	if errors.Is(err, rpctypes.ErrFutureRev) {
		resp, err = s.e.cli.Do(ctx, r.op(clientv3.WithRev(rev)))
	}
	if err != nil {
		return nil, s.e.readError(err)
	}
	s.mu.Lock()
	s.keep(r, resp.Get())
	s.mu.Unlock()
	return resp.Get(), nil
}

// keep remembers an answer, while the snapshot's answers are small; s.mu
// is held. A first read's answer is always kept.
func (s *snapshot) keep(req request, resp *clientv3.GetResponse) {
	n := 0
	for _, kv := range resp.Kvs {
		n += len(kv.Key) + len(kv.Value)
	}
	if s.bytes+n > maxSeen && s.seen != nil {
		return
	}
	if s.seen == nil {
		s.seen = map[request]*clientv3.GetResponse{}
	}
	s.seen[req] = resp
	s.bytes += n
}

// table is a table the snapshot holds whole: a prefetched one, read with
// the first read, or one read whole after many reads of single records.
func (s *snapshot) table(t store.Table) ([]*mvccpb.KeyValue, bool, error) {
	if s.e.isClosed() {
		return nil, false, store.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.e.cfg.prefetch, t) {
		if err := s.begin(nil); err != nil {
			return nil, false, err
		}
	}
	kvs, ok := s.tables[t]
	return kvs, ok, nil
}

// readAhead is how many single records of one table a snapshot reads one
// at a time before it reads the whole table in pages, if the table is no
// larger than maxSeen: listing apps by name reads each app's record, and a
// thousand round trips cost more than a few pages.
const readAhead = 16

// missed counts a read of one record of t, and reads t whole once there
// have been readAhead of them. A table found too large is not read whole
// again for a while, by any snapshot of the engine.
func (s *snapshot) missed(t store.Table) error {
	s.mu.Lock()
	if s.misses == nil {
		s.misses = map[store.Table]int{}
	}
	s.misses[t]++
	n, rev := s.misses[t], s.rev
	s.mu.Unlock()
	if n != readAhead || rev == 0 || !s.e.mayReadWhole(t) {
		return nil
	}
	var kvs []*mvccpb.KeyValue
	size := 0
	start, end := s.e.base(t), prefixEnd(s.e.base(t))
	// Streamed, as a scan is: a table read a page at a time makes the
	// member walk the rest of it for each page, and a large one takes
	// longer than one request to find too large.
	done, err := s.scanStream(start, end, func(page []*mvccpb.KeyValue, _ bool) error {
		for _, kv := range page {
			size += len(kv.Key) + len(kv.Value)
		}
		if size > maxSeen {
			return errTooLarge
		}
		kvs = append(kvs, page...)
		return nil
	})
	switch {
	case errors.Is(err, errTooLarge):
		s.e.tooLarge(t)
		return nil
	case err != nil:
		return err
	case !done:
		ctx, cancel := s.e.request(s.ctx)
		defer cancel()
		for page := int64(maxPage); ; {
			resp, err := s.e.cli.Do(ctx, request{key: start, end: end, limit: page}.op(clientv3.WithRev(rev), clientv3.WithSerializable()))
			if errors.Is(err, rpctypes.ErrFutureRev) {
				resp, err = s.e.cli.Do(ctx, request{key: start, end: end, limit: page}.op(clientv3.WithRev(rev)))
			}
			if err != nil {
				return s.e.readError(err)
			}
			r := resp.Get()
			for _, kv := range r.Kvs {
				size += len(kv.Key) + len(kv.Value)
			}
			if size > maxSeen {
				s.e.tooLarge(t)
				return nil
			}
			kvs = append(kvs, r.Kvs...)
			if !r.More || len(r.Kvs) == 0 {
				break
			}
			start = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
		}
	}
	s.mu.Lock()
	if s.tables == nil {
		s.tables = map[store.Table][]*mvccpb.KeyValue{}
	}
	s.tables[t] = kvs
	s.mu.Unlock()
	return nil
}

// errTooLarge ends the reading of a table whole once it is found larger
// than a snapshot keeps.
var errTooLarge = errors.New("too large to read whole")

// largeFor is how long a table found too large to read whole is read a
// record at a time instead.
const largeFor = time.Minute

func (e *Engine) mayReadWhole(t store.Table) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Since(e.large[t]) > largeFor
}

func (e *Engine) tooLarge(t store.Table) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.large == nil {
		e.large = map[store.Table]time.Time{}
	}
	e.large[t] = time.Now()
}

func (s *snapshot) Get(t store.Table, key []byte) ([]byte, error) {
	k := s.e.key(t, key)
	kvs, ok, err := s.table(t)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.missed(t); err != nil {
			return nil, err
		}
		if kvs, ok, err = s.table(t); err != nil {
			return nil, err
		}
	}
	if !ok {
		resp, err := s.get(request{key: k})
		if err != nil {
			return nil, err
		}
		kvs = resp.Kvs
	}
	i := sort.Search(len(kvs), func(i int) bool { return string(kvs[i].Key) >= k })
	if i == len(kvs) || string(kvs[i].Key) != k {
		return nil, nil
	}
	return bytes.Clone(value(kvs[i])), nil // the caller's to keep: a kept answer is shared
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
	visit := func(kvs []*mvccpb.KeyValue, backwards bool) error {
		for i := range kvs {
			kv := kvs[i]
			if backwards {
				kv = kvs[len(kvs)-1-i]
			}
			if err := fn(kv.Key[len(base):], value(kv)); err != nil {
				return err
			}
		}
		return nil
	}
	kvs, ok, err := s.table(t)
	switch {
	case err != nil:
	case ok:
		lo := sort.Search(len(kvs), func(i int) bool { return string(kvs[i].Key) >= start })
		hi := sort.Search(len(kvs), func(i int) bool { return string(kvs[i].Key) >= end })
		err = visit(kvs[lo:hi], o.Reverse)
	case o.Reverse:
		err = s.scanBack(start, end, visit)
	default:
		err = s.scanOn(start, end, visit)
	}
	if errors.Is(err, store.ErrStop) {
		return nil
	}
	return err
}

// scanOn visits [start, end) in key order: a first small page (most scans
// stop early, and a small range ends there), then the rest as one stream
// at the snapshot's revision (see scanStream). A cluster that cannot
// stream is read a page at a time.
func (s *snapshot) scanOn(start, end string, visit func([]*mvccpb.KeyValue, bool) error) error {
	streamed := false
	for page := int64(firstPage); ; page = min(page*4, maxPage) {
		resp, err := s.get(request{key: start, end: end, limit: page})
		if err != nil {
			return err
		}
		if err := visit(resp.Kvs, false); err != nil {
			return err
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		if !streamed {
			streamed = true
			done, err := s.scanStream(start, end, visit)
			if done || err != nil {
				return err
			}
		}
	}
}

// scanStream visits [start, end) in key order at the snapshot's revision
// through etcd's range stream: the member sends the records in chunks of
// about a request's size, each read once. Reading a large table a page at
// a time instead costs the member a walk of the rest of the range for
// every page (a range with a limit counts what it leaves out), which grows
// with the square of the table. done is false, with no error and nothing
// visited, if the member cannot stream (an etcd before 3.7): the caller
// reads pages.
//
// The stream is bounded by the request timeout while it waits for the
// member's next chunk, not as a whole, nor while visit works: a table of a
// million records takes longer than one request.
func (s *snapshot) scanStream(start, end string, visit func([]*mvccpb.KeyValue, bool) error) (done bool, err error) {
	s.mu.Lock()
	rev := s.rev
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	stall := time.AfterFunc(s.e.cfg.RequestTimeout, cancel)
	defer stall.Stop()
	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithSerializable()}
	for try := 0; ; try++ {
		ch, err := s.e.cli.GetStream(ctx, start, opts...)
		if err != nil {
			if status.Code(err) == codes.Unimplemented {
				return false, nil
			}
			return true, s.e.readError(err)
		}
		visited := false
		for r := range ch {
			if err = r.Err(); err != nil {
				break
			}
			if len(r.Kvs) == 0 {
				continue
			}
			visited = true
			// The caller's time with a chunk is its own (the store's
			// check reads other records for each): the member is waited
			// for, not it.
			stall.Stop()
			if err = visit(r.Kvs, false); err != nil {
				cancel()
				for range ch {
				}
				return true, err
			}
			stall.Reset(s.e.cfg.RequestTimeout)
			start = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
		}
		switch {
		case err == nil:
			return true, nil
		case status.Code(err) == codes.Unimplemented && !visited:
			return false, nil
		case errors.Is(err, rpctypes.ErrFutureRev) && try < memberTries:
			// A member that has not applied the revision yet: the next
			// try goes to another, the last to the leader's view.
			if try == memberTries-1 {
				opts = opts[:2]
			}
			continue
		case ctx.Err() != nil && s.ctx.Err() == nil:
			return true, s.e.readError(context.DeadlineExceeded)
		}
		return true, s.e.readError(err)
	}
}

// scanBack visits [start, end) in reverse key order, a page at a time.
// etcd sorts a descending range in full before it limits it, so each page
// first asks for keys only (from the in-memory index, not the disk), then
// reads the values of just those keys in key order and visits them
// backwards.
func (s *snapshot) scanBack(start, end string, visit func([]*mvccpb.KeyValue, bool) error) error {
	for page := int64(firstPage); ; page = min(page*4, maxPage) {
		keys, err := s.get(request{key: start, end: end, limit: page, keysOnly: true})
		if err != nil {
			return err
		}
		if len(keys.Kvs) == 0 {
			return nil
		}
		low := string(keys.Kvs[len(keys.Kvs)-1].Key)
		resp, err := s.get(request{key: low, end: end})
		if err != nil {
			return err
		}
		if len(resp.Kvs) != len(keys.Kvs) {
			return fmt.Errorf("read %s: %d records in a page of %d keys at one revision", s.e.name, len(resp.Kvs), len(keys.Kvs))
		}
		if err := visit(resp.Kvs, true); err != nil {
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
