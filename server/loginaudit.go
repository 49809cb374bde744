package server

import (
	"sync"
	"time"
)

// loginEvery is how often one key's logins reach the audit trail: each is a
// write to the database, and a script logging in in a loop must not fill
// the trail (or the disk). The logins left out are counted in the next
// event recorded for that key.
const loginEvery = time.Minute

// loginAudit decides which logins are recorded.
type loginAudit struct {
	now func() time.Time

	mu      sync.Mutex
	last    map[string]time.Time // by key fingerprint: the last login recorded
	skipped map[string]int       // logins left out since
}

func newLoginAudit(now func() time.Time) *loginAudit {
	if now == nil {
		now = time.Now
	}
	return &loginAudit{now: now, last: map[string]time.Time{}, skipped: map[string]int{}}
}

// record reports whether this login of key is to be recorded, and how many
// were left out before it.
func (l *loginAudit) record(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if last, ok := l.last[key]; ok && now.Sub(last) < loginEvery {
		l.skipped[key]++
		return false, 0
	}
	l.last[key] = now
	n := l.skipped[key]
	delete(l.skipped, key)
	return true, n
}
