package store

import "sync"

// feed tells subscribers that the database changed, so every open console
// can show another admin's change at once. A subscriber's channel holds at
// most one pending signal: a burst of changes wakes it once, and a slow
// reader never blocks a writer.
type feed struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Changes subscribes to the change feed: the returned channel receives a
// signal after every committed change (by any actor), and is closed by stop
// or by Close.
func (s *Store) Changes() (changes <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	s.feed.mu.Lock()
	if s.feed.subs == nil {
		s.feed.subs = make(map[chan struct{}]struct{})
	}
	s.feed.subs[ch] = struct{}{}
	s.feed.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.feed.mu.Lock()
			defer s.feed.mu.Unlock()
			if _, ok := s.feed.subs[ch]; ok {
				delete(s.feed.subs, ch)
				close(ch)
			}
		})
	}
}

// notify signals every subscriber; it runs after a transaction commits.
func (f *feed) notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default: // already signalled and not yet read
		}
	}
}

// closeAll ends every subscription.
func (f *feed) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}
