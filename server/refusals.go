package server

import (
	"maps"
	"net"
	"sync"
	"time"

	"charm.land/log/v2"
)

// Why a connection, login or session was refused: the reasons the refusal
// log and RefusalStats use.
const (
	RefusedUnauthenticated = "unauthenticated_limit" // too many connections not yet logged in
	RefusedHandshake       = "handshake_timeout"     // no login within the handshake timeout
	RefusedKey             = "unknown_key"           // the key is on no allow-list
	RefusedFrom            = "from"                  // the key's from= does not allow the address
	RefusedExpired         = "expired"               // the key's expiry-time has passed
	RefusedNoPTY           = "no_pty"                // the key's line forbids a terminal
	RefusedNoTerminal      = "no_terminal"           // the console was asked for without one
	RefusedSessions        = "session_limit"         // --max-sessions reached
	RefusedAdminSlots      = "admin_slots"           // only the admins' reserved sessions are left
	RefusedPerUser         = "user_limit"            // --max-sessions-per-user reached
	RefusedClosing         = "shutting_down"         // the server is stopping
	RefusedCommand         = "command"               // an unknown command, or one only admins may run
)

// RefusalStats counts refusals since the server started: how many there
// were by reason, how many the log shows, and how many it left out to stay
// within its rate.
type RefusalStats struct {
	Total      uint64
	Logged     uint64
	Suppressed uint64
	ByReason   map[string]uint64
}

// refusalLog writes refusals to the log at a bounded rate: at most
// perSource lines a second for one remote address and total lines a
// second in all (0: no bound). Someone hammering the port fills a counter,
// not the disk; the next line logged says how many were left out.
type refusalLog struct {
	log              *log.Logger
	perSource, total int
	now              func() time.Time

	mu       sync.Mutex
	second   int64          // the second the counts below are for
	bySource map[string]int // lines logged this second, by remote host
	inSecond int            // lines logged this second
	leftOut  uint64         // lines left out since the last one logged
	stats    RefusalStats
}

// maxSources bounds the hosts remembered in one second when the overall
// rate does not.
const maxSources = 4096

func newRefusalLog(l *log.Logger, perSource, total int, now func() time.Time) *refusalLog {
	if now == nil {
		now = time.Now
	}
	return &refusalLog{log: l, perSource: perSource, total: total, now: now,
		bySource: map[string]int{}, stats: RefusalStats{ByReason: map[string]uint64{}}}
}

// refuse counts a refusal and logs msg with its key-value pairs, the reason
// and the remote address, unless this second's lines are spent.
func (r *refusalLog) refuse(reason string, remote net.Addr, msg string, kv ...any) {
	host := remoteHost(remote)
	r.mu.Lock()
	r.stats.Total++
	r.stats.ByReason[reason]++
	if sec := r.now().Unix(); sec != r.second {
		r.second, r.inSecond = sec, 0
		clear(r.bySource)
	}
	_, known := r.bySource[host]
	if (r.total > 0 && r.inSecond >= r.total) || (r.perSource > 0 && r.bySource[host] >= r.perSource) ||
		(!known && len(r.bySource) >= maxSources) {
		r.stats.Suppressed++
		r.leftOut++
		r.mu.Unlock()
		return
	}
	r.inSecond++
	r.bySource[host]++
	r.stats.Logged++
	leftOut := r.leftOut
	r.leftOut = 0
	r.mu.Unlock()

	kv = append(kv, "reason", reason)
	if remote != nil {
		kv = append(kv, "remote", remote.String())
	}
	if leftOut > 0 {
		kv = append(kv, "not_logged_before", leftOut)
	}
	r.log.Warn(msg, kv...)
}

// Stats is a copy of the counts.
func (r *refusalLog) Stats() RefusalStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.ByReason = maps.Clone(s.ByReason)
	return s
}

// remoteHost is the address's host, without the port: one source however
// many connections it opens.
func remoteHost(a net.Addr) string {
	if a == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}
