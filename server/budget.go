package server

import (
	"fmt"

	"apiscopes/store"
)

// The memory a server needs, as measured (BenchmarkSessionMemory,
// BenchmarkKeyMemory) with a margin: what the process holds before any
// session or key, what each key of the verify index adds (its record, its
// app's share and the store's copy of both), and what a console session
// adds at a terminal size: a fixed part, and a part a cell, for Bubble
// Tea's two cell buffers (112 bytes a cell each) and the frames the
// renderer keeps (see repainting).
const (
	BaseBytes        = 32 << 20
	BytesPerKey      = 640
	SessionBaseBytes = 1 << 20
	SessionCellBytes = 256
)

// collectorShare is the part of the memory limit left to garbage not yet
// collected: the budget is the rest, so that the collector keeps the
// process under the limit without running all the time. A session's cells
// are dense with pointers, so each collection reads all of them: with less
// than a quarter of the limit free, thirty sessions at the cap drawing at
// once kept it collecting nearly all the time, and a new console took over
// a minute to draw.
const collectorShare = 0.25

// SessionBytes is what one console session costs at most on a terminal of
// size (a session's terminal is cut to --max-pty, so size is that cap).
func SessionBytes(size TermSize) int64 {
	return SessionBaseBytes + SessionCellBytes*int64(size.Width)*int64(size.Height)
}

// MemoryNeeded is what a server with keys keys and sessions sessions at
// maxPTY holds at most, garbage apart.
func MemoryNeeded(keys, sessions int, maxPTY TermSize) int64 {
	return BaseBytes + BytesPerKey*int64(keys) + int64(sessions)*SessionBytes(maxPTY)
}

// SessionsWithin is how many console sessions at maxPTY fit in a memory
// limit beside a verify index of keys keys, after the collector's share: 0
// when not even the index fits.
func SessionsWithin(limit int64, keys int, maxPTY TermSize) int {
	budget := int64(float64(limit)*(1-collectorShare)) - MemoryNeeded(keys, 0, maxPTY)
	if budget <= 0 {
		return 0
	}
	return int(budget / SessionBytes(maxPTY))
}

// sessionsFit is how many sessions the memory budget allows now, with the
// keys the store holds; ok is false without a budget.
func (s *SSH) sessionsFit() (fit, keys int, ok bool) {
	if s.cfg.MemoryLimit <= 0 {
		return 0, 0, false
	}
	_, keys = s.st.Size()
	return SessionsWithin(s.cfg.MemoryLimit, keys, s.cfg.MaxPTY), keys, true
}

// overBudget reports whether a session of role would pass the memory
// budget with open sessions open. The last admin slots of the budget are
// kept for admins, as they are of --max-sessions.
func (s *SSH) overBudget(open int, role store.Role) bool {
	fit, _, ok := s.sessionsFit()
	if !ok {
		return false
	}
	if role != store.Admin {
		fit -= s.slots.adminSlots
	}
	return open >= fit
}

// memoryRefusal tells a session refused for memory why.
func (s *SSH) memoryRefusal(open int) *refusal {
	fit, keys, _ := s.sessionsFit()
	return &refusal{RefusedMemory, fmt.Sprintf("the server has no memory for another session: %d open, %d fit in its %s "+
		"beside %d keys at up to %s a session (%d of them kept for admins); try again later",
		open, fit, mib(s.cfg.MemoryLimit), keys, mib(SessionBytes(s.cfg.MaxPTY)), min(s.slots.adminSlots, fit))}
}

// mib writes n bytes in MiB, as people read a memory limit.
func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
