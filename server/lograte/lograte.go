// Package lograte bounds how many lines a server logs about what it
// refused, so that a client sending bad requests in a loop, or many
// clients at once, fill a counter rather than the disk. The SSH console
// and the verify API each keep a Limiter.
package lograte

import (
	"net"
	"sync"
	"time"
)

// Default bounds, a second: enough to see what is going on during an
// attack, little enough that a day of one is a few megabytes of log.
const (
	DefaultPerSource = 2
	DefaultTotal     = 20
)

// maxSources bounds the sources remembered in one second when Total does
// not: a flood from many addresses costs no more memory than this.
const maxSources = 4096

// Limiter lets through at most perSource lines a second about one source
// and total lines a second in all (0: no bound). The lines it holds back
// are counted, and the next line it lets through is told how many.
type Limiter struct {
	perSource, total int
	now              func() time.Time

	mu         sync.Mutex
	second     int64          // the second the counts below are for
	bySource   map[string]int // lines let through this second, by source
	inSecond   int            // lines let through this second
	leftOut    uint64         // lines held back since the last one let through
	logged     uint64
	suppressed uint64
}

// New returns a Limiter on the clock now (time.Now if nil).
func New(perSource, total int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{perSource: perSource, total: total, now: now, bySource: map[string]int{}}
}

// Allow reports whether a line about source may be logged now. When it may,
// leftOut is how many lines were held back since the last one let through,
// for this one to say so.
func (l *Limiter) Allow(source string) (ok bool, leftOut uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := l.now().Unix(); sec != l.second {
		l.second, l.inSecond = sec, 0
		clear(l.bySource)
	}
	_, known := l.bySource[source]
	if (l.total > 0 && l.inSecond >= l.total) || (l.perSource > 0 && l.bySource[source] >= l.perSource) ||
		(!known && len(l.bySource) >= maxSources) {
		l.suppressed++
		l.leftOut++
		return false, 0
	}
	l.inSecond++
	l.bySource[source]++
	l.logged++
	leftOut, l.leftOut = l.leftOut, 0
	return true, leftOut
}

// Logged is how many lines were let through since the start.
func (l *Limiter) Logged() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logged
}

// Suppressed is how many lines were held back since the start.
func (l *Limiter) Suppressed() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.suppressed
}

// Source is the host of a network address ("host:port"): one source
// however many connections it opens.
func Source(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
