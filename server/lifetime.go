package server

import "time"

// lifetime ends a session after a fixed length, however busy it is, so a
// session forgotten in a terminal that someone keeps poking (or that a
// script keeps alive) does not outlive its login indefinitely.
type lifetime struct {
	timer *time.Timer
	fired chan struct{}
}

// newLifetime starts the clock; a zero or negative length never fires.
func newLifetime(length time.Duration) *lifetime {
	l := &lifetime{fired: make(chan struct{})}
	if length > 0 {
		l.timer = time.AfterFunc(length, func() { close(l.fired) })
	}
	return l
}

// over is closed once the session has lasted its length.
func (l *lifetime) over() <-chan struct{} { return l.fired }

// stop releases the timer of a session that ended first.
func (l *lifetime) stop() {
	if l.timer != nil {
		l.timer.Stop()
	}
}
