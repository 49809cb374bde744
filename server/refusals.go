package server

import (
	"maps"
	"net"
	"sync"
	"time"

	"charm.land/log/v2"

	"apiscopes/server/lograte"
)

// Why a connection, login or session was refused: the reasons the refusal
// log and RefusalStats use.
const (
	RefusedUnauthenticated = "unauthenticated_limit" // too many connections not yet logged in
	RefusedSourceShare     = "source_limit"          // too many not yet logged in from one address (or IPv6 /64)
	RefusedEarlyDrop       = "early_drop"            // refused at random: many connections not yet logged in
	RefusedProxyHeader     = "proxy_header"          // a trusted proxy's connection without a PROXY protocol header
	RefusedHandshake       = "handshake_timeout"     // no login within the handshake timeout
	RefusedKey             = "unknown_key"           // the key is on no allow-list
	RefusedFrom            = "from"                  // the key's from= does not allow the address
	RefusedExpired         = "expired"               // the key's expiry-time has passed
	RefusedNoPTY           = "no_pty"                // the key's line forbids a terminal
	RefusedNoTerminal      = "no_terminal"           // the console was asked for without one
	RefusedSessions        = "session_limit"         // --max-sessions reached
	RefusedAdminSlots      = "admin_slots"           // only the admins' reserved sessions are left
	RefusedPerUser         = "user_limit"            // --max-sessions-per-user reached
	RefusedMemory          = "memory_limit"          // another session would pass the memory budget
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

// refusalLog writes refusals to the log at a bounded rate (see lograte):
// someone hammering the port fills a counter, not the disk; the next line
// logged says how many were left out.
type refusalLog struct {
	log   *log.Logger
	limit *lograte.Limiter

	mu    sync.Mutex
	stats RefusalStats
}

func newRefusalLog(l *log.Logger, perSource, total int, now func() time.Time) *refusalLog {
	return &refusalLog{log: l, limit: lograte.New(perSource, total, now),
		stats: RefusalStats{ByReason: map[string]uint64{}}}
}

// refuse counts a refusal and logs msg with its key-value pairs, the reason
// and the remote address, unless this second's lines are spent.
func (r *refusalLog) refuse(reason string, remote net.Addr, msg string, kv ...any) {
	r.mu.Lock()
	r.stats.Total++
	r.stats.ByReason[reason]++
	r.mu.Unlock()
	source := ""
	if remote != nil {
		source = lograte.Source(remote.String())
	}
	ok, leftOut := r.limit.Allow(source)
	if !ok {
		return
	}
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
	s.Logged, s.Suppressed = r.limit.Logged(), r.limit.Suppressed()
	return s
}
