package store

import (
	"sync"
	"sync/atomic"
	"time"
)

// clock is the store's time. Verify notes a key's use at a coarse time,
// refreshed a few times a second, so a check reads no clock unless the key
// has a deadline. An injected clock (tests) is read every time instead.
type clock struct {
	now    func() time.Time
	exact  bool // read now for every use: an injected clock
	coarse atomic.Int64
	done   chan struct{}
	once   sync.Once
}

// coarseEvery is how stale a noted use may be.
const coarseEvery = 250 * time.Millisecond

func newClock(now func() time.Time) *clock {
	c := &clock{now: now, exact: now != nil, done: make(chan struct{})}
	if now == nil {
		c.now = time.Now
	}
	c.coarse.Store(c.now().UnixNano())
	if c.exact {
		return c
	}
	go func() {
		t := time.NewTicker(coarseEvery)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
				c.coarse.Store(c.now().UnixNano())
			}
		}
	}()
	return c
}

// coarseNano is the time to note a use at, in unix nanoseconds.
func (c *clock) coarseNano() int64 {
	if c.exact {
		return c.now().UnixNano()
	}
	return c.coarse.Load()
}

func (c *clock) stop() { c.once.Do(func() { close(c.done) }) }
