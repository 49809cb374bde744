package store

import "sync"

// Update is one change as the feed tells it: its audit event, and the app it
// touched as it is after the change (nil once deleted). Resync means the
// subscriber fell behind and updates were dropped: it must reload what it
// shows.
type Update struct {
	Seq    uint64 // numbers one subscription's updates 1, 2, …; a Resync skips the lost ones
	Event  Event
	App    *App
	Resync bool
}

// feedQueue is how many updates a subscriber may have unread before it is
// sent a Resync instead: writers never wait for a slow reader.
const feedQueue = 256

// feed tells subscribers what changed, so every open console can show
// another admin's change at once without reading the database again.
type feed struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// Subscription is one reader of the feed.
type Subscription struct {
	C   <-chan Update // closed by Close or when the store closes
	ch  chan Update
	seq uint64
	f   *feed
}

// Subscribe starts a subscription to every change committed from now on,
// by this process or (on a shared engine) any other.
func (s *Store) Subscribe() *Subscription {
	ch := make(chan Update, feedQueue)
	sub := &Subscription{C: ch, ch: ch, f: &s.feed}
	s.feed.mu.Lock()
	if s.feed.subs == nil {
		s.feed.subs = map[*Subscription]struct{}{}
	}
	s.feed.subs[sub] = struct{}{}
	s.feed.mu.Unlock()
	return sub
}

// Close ends the subscription and closes C.
func (sub *Subscription) Close() {
	sub.f.mu.Lock()
	defer sub.f.mu.Unlock()
	if _, ok := sub.f.subs[sub]; ok {
		delete(sub.f.subs, sub)
		close(sub.ch)
	}
}

// publish queues updates for every subscriber, never blocking: a full
// queue is emptied and replaced by one Resync.
func (f *feed) publish(updates []Update) {
	if len(updates) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		for _, up := range updates {
			sub.seq++
			up.Seq = sub.seq
			select {
			case sub.ch <- up:
			default:
				sub.overflow()
			}
		}
	}
}

// overflow drops what the subscriber has not read and leaves it a Resync.
func (sub *Subscription) overflow() {
	for {
		select {
		case <-sub.ch:
			continue
		default:
		}
		break
	}
	select {
	case sub.ch <- Update{Seq: sub.seq, Resync: true}:
	default:
	}
}

// resync tells every subscriber to reload.
func (f *feed) resync() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		sub.seq++
		sub.overflow()
	}
}

// closeAll ends every subscription.
func (f *feed) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		delete(f.subs, sub)
		close(sub.ch)
	}
}

// Changes subscribes to the change feed as plain signals: the channel
// receives a signal after every committed change (a burst may wake it
// once), and is closed by stop or by Close. Readers that can use what
// changed subscribe with Subscribe.
func (s *Store) Changes() (changes <-chan struct{}, stop func()) {
	sub := s.Subscribe()
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		for range sub.C {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, sub.Close
}
