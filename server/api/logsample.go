package api

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Default bounds on the refusal lines the verify API logs, per minute: a
// client that sends bad keys in a loop must not fill the disk, and neither
// must the many clients behind one load balancer, which all share its
// address, or many addresses at once.
const (
	DefaultLogPerSource = 60
	DefaultLogTotal     = 600
	logWindow           = time.Minute
)

// logSampler decides which refusal lines are logged: at most perSource per
// client address and total overall in each minute. The rest are counted:
// in all (for metrics) and per minute, for a line that says how many were
// left out. It remembers no more addresses than it let lines through for,
// so a flood from many addresses costs it nothing more.
type logSampler struct {
	perSource, total int // 0: no limit
	now              func() time.Time

	mu         sync.Mutex
	start      time.Time      // of the current window
	bySource   map[string]int // lines logged this window, per address
	logged     int            // lines logged this window
	held       int            // lines left out this window
	suppressed atomic.Uint64  // lines left out since the server started
}

func newLogSampler(perSource, total int, now func() time.Time) *logSampler {
	return &logSampler{perSource: perSource, total: total, now: now, bySource: map[string]int{}}
}

// allow reports whether a refusal line for a request from remote (an
// http.Request's RemoteAddr) may be logged. When a new window begins and
// the last one left lines out, it also returns how many, for the caller to
// say so first.
func (s *logSampler) allow(remote string) (ok bool, leftOut int) {
	source, _, err := net.SplitHostPort(remote)
	if err != nil {
		source = remote
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.start) >= logWindow || now.Before(s.start) {
		leftOut = s.held
		s.start, s.logged, s.held = now, 0, 0
		clear(s.bySource)
	}
	if (s.total > 0 && s.logged >= s.total) || (s.perSource > 0 && s.bySource[source] >= s.perSource) {
		s.held++
		s.suppressed.Add(1)
		return false, leftOut
	}
	s.logged++
	s.bySource[source]++
	return true, leftOut
}

// Suppressed is how many refusal lines were left out since the start.
func (s *logSampler) Suppressed() uint64 { return s.suppressed.Load() }
