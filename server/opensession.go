package server

import (
	"net"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
	"apiscopes/tui"
)

// openSession is a session in progress: who, from where and since when,
// the allow-list entry it logged in with, and the console it runs.
type openSession struct {
	person string
	remote net.Addr
	key    gossh.PublicKey
	fp     string // the key's SHA256 fingerprint
	since  time.Time
	entry  Entry  // as it logged in
	gen    uint64 // the allow-list in force at login

	command string // what it runs instead of the console ("" for the console)
	follows bool   // the command follows the audit trail until ended

	mu      sync.Mutex
	role    store.Role   // the console's role: the login's, until a demotion
	program *tea.Program // the console running, if any
	console *tui.Model   // its model, for the key it shows
	cancel  func()       // ends the command running, if any
	size    TermSize     // the terminal's size, already cut to MaxPTY
	restart bool         // the console is to reopen with the new role
	ended   string       // why the server ended the session; "" while it may run
	why     string       // for endRevoked: what the key lost
}

// Why the server ended a session.
const (
	endShutdown = "shutdown"
	endIdle     = "idle"
	endLifetime = "lifetime"
	endRevoked  = "revoked"
	endDropped  = "dropped" // the connection went away
)

// run sets the console the session shows, or reports false when the
// session has been ended meanwhile. The model stays known after its
// program ends (run(nil, …)), for the goodbye to say what it showed.
func (o *openSession) run(p *tea.Program, m *tui.Model) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.program = p
	if m != nil {
		o.console = m
	}
	return o.ended == ""
}

// shownKey is the API key shown once on the session's screen, if any.
func (o *openSession) shownKey() (tui.ShownKey, bool) {
	o.mu.Lock()
	m := o.console
	o.mu.Unlock()
	if m == nil {
		return tui.ShownKey{}, false
	}
	return m.ShownKey()
}

// keyOnScreen reports whether a key shown once is on the session's screen:
// then idleness does not end the session (the key would be lost).
func (o *openSession) keyOnScreen() bool {
	_, ok := o.shownKey()
	return ok
}

// runCommand sets the cancel of the command the session runs, or reports
// false when the session has been ended meanwhile.
func (o *openSession) runCommand(cancel func()) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cancel = cancel
	return o.ended == ""
}

// end asks the session to finish for reason; the first reason stands, and
// end reports whether it was this one.
func (o *openSession) end(reason string) bool {
	o.mu.Lock()
	first := o.ended == ""
	if first {
		o.ended = reason
	}
	p, cancel := o.program, o.cancel
	o.mu.Unlock()
	if p != nil {
		p.Quit() // Bubble Tea restores the user's terminal on the way out
	}
	if cancel != nil {
		cancel()
	}
	return first
}

// revoke ends the session because its key lost its standing.
func (o *openSession) revoke(why string) bool {
	o.mu.Lock()
	if o.ended == "" {
		o.why = why
	}
	o.mu.Unlock()
	return o.end(endRevoked)
}

// demote makes the session a viewer's: its console closes and reopens
// read-only. It reports false when the session was not an admin's.
func (o *openSession) demote() bool {
	o.mu.Lock()
	if o.role != store.Admin || o.ended != "" {
		o.mu.Unlock()
		return false
	}
	o.role, o.restart = store.Viewer, true
	p := o.program
	o.mu.Unlock()
	if p != nil {
		p.Quit()
	}
	return true
}

// reopen reports (once) whether the console is to reopen after a demotion.
func (o *openSession) reopen() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.restart && o.ended == ""
	o.restart = false
	return r
}

// resize records the terminal's new size and passes it to the console.
func (o *openSession) resize(t TermSize) {
	o.mu.Lock()
	o.size = t
	p := o.program
	o.mu.Unlock()
	if p != nil {
		p.Send(tea.WindowSizeMsg(t))
	}
}

// state is the session as it is now, for the code that reads it outside the
// session's goroutine.
func (o *openSession) state() (role store.Role, size TermSize, ended, why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.role, o.size, o.ended, o.why
}
