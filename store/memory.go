package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
)

// NewMemory returns an engine that keeps everything in memory, for tests
// and for a read-only look at a database of an older schema. It follows
// the Engine contract exactly (the conformance suite runs on it), with
// nothing written anywhere.
func NewMemory() Engine {
	return &memory{tables: map[Table]map[string][]byte{}}
}

type memory struct {
	mu      sync.RWMutex
	tables  map[Table]map[string][]byte
	rev     uint64
	closed  bool
	follows map[int]func(ChangeSet)
	next    int
	// FailWith, when set, fails every commit (a test's full disk).
	failWith error
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
	v, ok := s.m.tables[t][string(key)]
	if !ok {
		return nil, nil
	}
	return slices.Clone(v), nil
}

func (s memSnap) Scan(t Table, prefix []byte, o ScanOptions, fn func(k, v []byte) error) error {
	tab := s.m.tables[t]
	keys := make([]string, 0, len(tab))
	for k := range tab {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if o.Reverse {
		slices.Reverse(keys)
	}
	for _, k := range keys {
		if o.From != nil {
			if c := bytes.Compare([]byte(k), o.From); !o.Reverse && c < 0 || o.Reverse && c >= 0 {
				continue
			}
		}
		if err := fn([]byte(k), tab[k]); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (m *memory) Commit(_ context.Context, b *Batch) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	for _, c := range b.Conds {
		v, ok := m.tables[c.Table][string(c.Key)]
		if c.Value == nil && ok || c.Value != nil && (!ok || !bytes.Equal(v, c.Value)) {
			return 0, ErrStale
		}
	}
	if m.failWith != nil {
		return 0, m.failWith
	}
	cs := ChangeSet{}
	for _, op := range b.Ops {
		tab := m.tables[op.Table]
		if tab == nil {
			tab = map[string][]byte{}
			m.tables[op.Table] = tab
		}
		switch op.Kind {
		case OpPut:
			tab[string(op.Key)] = slices.Clone(op.Value)
			cs.Changes = append(cs.Changes, Change{op.Table, slices.Clone(op.Key), slices.Clone(op.Value)})
		case OpDelete:
			if _, ok := tab[string(op.Key)]; ok {
				delete(tab, string(op.Key))
				cs.Changes = append(cs.Changes, Change{op.Table, slices.Clone(op.Key), nil})
			}
		case OpDeletePrefix:
			for k := range tab {
				if strings.HasPrefix(k, string(op.Key)) {
					delete(tab, k)
					cs.Changes = append(cs.Changes, Change{op.Table, []byte(k), nil})
				}
			}
		}
	}
	m.rev++
	cs.Revision = m.rev
	for _, apply := range m.follows {
		apply(cs)
	}
	return m.rev, nil
}

func (m *memory) Follow(_ uint64, apply func(ChangeSet)) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.follows == nil {
		m.follows = map[int]func(ChangeSet){}
	}
	id := m.next
	m.next++
	m.follows[id] = apply
	return func() {
		m.mu.Lock()
		delete(m.follows, id)
		m.mu.Unlock()
	}, nil
}

func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
