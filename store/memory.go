package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
)

// NewMemory returns an engine that keeps everything in memory, for tests
// and for a read-only look at a database of an older schema. It follows
// the Engine contract exactly (the conformance suite runs on it), with
// nothing written anywhere: scans are ordered and cost what the entries
// they visit cost, Follow delivers every change set after the revision it
// is given, and any number of stores may share one (as replicas share a
// cluster).
func NewMemory() Engine {
	return &memory{tables: map[Table]*memTable{}}
}

type memory struct {
	mu     sync.RWMutex // guards tables, rev, log and closed
	tables map[Table]*memTable
	rev    uint64
	log    []ChangeSet // the latest change sets, oldest first, for a follower that starts behind
	closed bool
	// failWith, when set, fails every commit (a test's full disk).
	failWith error

	deliver sync.Mutex // held while change sets are handed to followers: one at a time, in order
	follows map[int]*memFollower
	next    int
}

// memLog is how many change sets a memory engine keeps for followers that
// start behind; one further behind is sent a Resync.
const memLog = 256

type memFollower struct {
	apply func(ChangeSet)
	last  uint64 // the last revision it was given
}

// FailCommits makes every later commit of a memory engine fail with err
// (nil: succeed again), as a full disk fails a file's. It is for tests.
func FailCommits(e Engine, err error) {
	if m, ok := e.(*memory); ok {
		m.mu.Lock()
		m.failWith = err
		m.mu.Unlock()
	}
}

func (m *memory) Read(_ context.Context, fn func(Snapshot) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn(memSnap{m})
}

type memSnap struct{ m *memory }

func (s memSnap) Revision() uint64 { return s.m.rev }

func (s memSnap) Get(t Table, key []byte) ([]byte, error) {
	tab := s.m.tables[t]
	if tab == nil {
		return nil, nil
	}
	v, ok := tab.vals[string(key)]
	if !ok {
		return nil, nil
	}
	return slices.Clone(v), nil
}

func (s memSnap) Scan(t Table, prefix []byte, o ScanOptions, fn func(k, v []byte) error) error {
	tab := s.m.tables[t]
	if tab == nil {
		return nil
	}
	err := tab.keys.scan(string(prefix), o, func(k string) error {
		return fn([]byte(k), tab.vals[k])
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

func (m *memory) Commit(_ context.Context, b *Batch) (uint64, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, ErrClosed
	}
	for _, c := range b.Conds {
		var v []byte
		ok := false
		if tab := m.tables[c.Table]; tab != nil {
			v, ok = tab.vals[string(c.Key)]
		}
		if c.Value == nil && ok || c.Value != nil && (!ok || !bytes.Equal(v, c.Value)) {
			m.mu.Unlock()
			return 0, ErrStale
		}
	}
	if m.failWith != nil {
		err := m.failWith
		m.mu.Unlock()
		return 0, err
	}
	cs := ChangeSet{}
	for _, op := range b.Ops {
		tab := m.tables[op.Table]
		if tab == nil {
			tab = &memTable{vals: map[string][]byte{}}
			m.tables[op.Table] = tab
		}
		switch op.Kind {
		case OpPut:
			tab.put(string(op.Key), slices.Clone(op.Value))
			cs.Changes = append(cs.Changes, Change{op.Table, slices.Clone(op.Key), slices.Clone(op.Value)})
		case OpDelete:
			if tab.del(string(op.Key)) {
				cs.Changes = append(cs.Changes, Change{op.Table, slices.Clone(op.Key), nil})
			}
		case OpDeletePrefix:
			var gone []string
			tab.keys.scan(string(op.Key), ScanOptions{}, func(k string) error { gone = append(gone, k); return nil })
			for _, k := range gone {
				tab.del(k)
				cs.Changes = append(cs.Changes, Change{op.Table, []byte(k), nil})
			}
		}
	}
	m.rev++
	cs.Revision = m.rev
	m.log = append(m.log, cs)
	if len(m.log) > 2*memLog {
		m.log = slices.Clone(m.log[len(m.log)-memLog:])
	}
	m.mu.Unlock()
	m.catchUp()
	return cs.Revision, nil
}

// catchUp hands every follower the change sets it has not had yet, in
// revision order. It runs outside m.mu, so a follower may read the engine;
// whichever commit gets here first delivers the later commits' change sets
// too, and each is delivered once.
func (m *memory) catchUp() {
	m.deliver.Lock()
	defer m.deliver.Unlock()
	for _, f := range m.follows {
		m.feed(f)
	}
}

// feed brings one follower up to date; m.deliver is held.
func (m *memory) feed(f *memFollower) {
	m.mu.RLock()
	rev, log := m.rev, m.log
	m.mu.RUnlock()
	if f.last >= rev {
		return
	}
	if len(log) == 0 || log[0].Revision > f.last+1 {
		f.last = rev
		f.apply(ChangeSet{Revision: rev, Resync: true})
		return
	}
	for _, cs := range log {
		if cs.Revision > f.last {
			f.last = cs.Revision
			f.apply(cs)
		}
	}
}

func (m *memory) Follow(after uint64, apply func(ChangeSet)) (func(), error) {
	m.mu.RLock()
	closed := m.closed
	m.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	m.deliver.Lock()
	defer m.deliver.Unlock()
	if m.follows == nil {
		m.follows = map[int]*memFollower{}
	}
	id := m.next
	m.next++
	f := &memFollower{apply: apply, last: after}
	m.follows[id] = f
	m.feed(f)
	var once sync.Once
	return func() {
		once.Do(func() {
			m.deliver.Lock()
			delete(m.follows, id)
			m.deliver.Unlock()
		})
	}, nil
}

func (m *memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.deliver.Lock()
	m.follows = nil
	m.deliver.Unlock()
	return nil
}

// memTable is one table: its values by key, and its keys in order.
type memTable struct {
	vals map[string][]byte
	keys sortedKeys
}

func (t *memTable) put(k string, v []byte) {
	if _, ok := t.vals[k]; !ok {
		t.keys.insert(k)
	}
	t.vals[k] = v
}

func (t *memTable) del(k string) bool {
	if _, ok := t.vals[k]; !ok {
		return false
	}
	delete(t.vals, k)
	t.keys.remove(k)
	return true
}

// sortedKeys is an ordered set of keys kept in runs of at most
// 2*sortedRun, so that an insertion or removal moves a run, not the whole
// set, and a scan starts with two binary searches.
type sortedKeys struct {
	runs [][]string // each sorted and non-empty; every key of a run sorts before the next run's
}

const sortedRun = 256

// find is the run that holds k or would: the first whose last key is not
// below k (the last run if k sorts after everything).
func (s *sortedKeys) find(k string) int {
	i, _ := slices.BinarySearchFunc(s.runs, k, func(run []string, k string) int {
		return strings.Compare(run[len(run)-1], k)
	})
	return min(i, len(s.runs)-1)
}

func (s *sortedKeys) insert(k string) {
	if len(s.runs) == 0 {
		s.runs = [][]string{{k}}
		return
	}
	r := s.find(k)
	run := s.runs[r]
	i, found := slices.BinarySearch(run, k)
	if found {
		return
	}
	run = slices.Insert(run, i, k)
	if len(run) <= 2*sortedRun {
		s.runs[r] = run
		return
	}
	left := slices.Clone(run[:sortedRun])
	right := slices.Clone(run[sortedRun:])
	s.runs[r] = left
	s.runs = slices.Insert(s.runs, r+1, right)
}

func (s *sortedKeys) remove(k string) {
	if len(s.runs) == 0 {
		return
	}
	r := s.find(k)
	run := s.runs[r]
	i, found := slices.BinarySearch(run, k)
	if !found {
		return
	}
	run = slices.Delete(run, i, i+1)
	if len(run) == 0 {
		s.runs = slices.Delete(s.runs, r, r+1)
		return
	}
	s.runs[r] = run
}

// seek is the position of the first key not below k: a run and an index
// in it, or len(runs) if there is none.
func (s *sortedKeys) seek(k string) (int, int) {
	if len(s.runs) == 0 {
		return 0, 0
	}
	r := s.find(k)
	i, _ := slices.BinarySearch(s.runs[r], k)
	if i == len(s.runs[r]) {
		return r + 1, 0
	}
	return r, i
}

// scan calls fn with every key starting with prefix, in order (or reverse
// order), from o.From as ScanOptions describes. fn may not change s.
func (s *sortedKeys) scan(prefix string, o ScanOptions, fn func(k string) error) error {
	if !o.Reverse {
		start := prefix
		if o.From != nil && string(o.From) > start {
			start = string(o.From)
		}
		for r, i := s.seek(start); r < len(s.runs); r, i = r+1, 0 {
			for _, k := range s.runs[r][i:] {
				if !strings.HasPrefix(k, prefix) {
					return nil
				}
				if err := fn(k); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// Reverse: start before the first key past the prefix, or before From.
	var r, i int
	switch end, ok := prefixEnd(prefix); {
	case o.From != nil && (!ok || string(o.From) < end):
		r, i = s.seek(string(o.From))
	case ok:
		r, i = s.seek(end)
	default:
		r, i = len(s.runs), 0
	}
	for {
		if i == 0 {
			if r == 0 {
				return nil
			}
			r--
			i = len(s.runs[r])
		}
		i--
		k := s.runs[r][i]
		if !strings.HasPrefix(k, prefix) {
			if k < prefix {
				return nil
			}
			continue // after the prefix's range (only when From lies beyond it)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
}

// prefixEnd is the first key after every key starting with prefix; ok is
// false if there is none (an empty prefix, or one of only 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
