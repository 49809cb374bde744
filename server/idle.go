package server

import (
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
)

// idleClock ends a session its user has left: it restarts on every key,
// click or paste, and fires once the session has had none for its length.
// Output (a live update from another admin) does not count as activity.
// While hold reports true (a key shown once is on screen: ending the
// session would lose it) the clock starts again instead of firing.
type idleClock struct {
	length time.Duration
	timer  *time.Timer
	fired  chan struct{}
	once   sync.Once
	hold   func() bool // nil: nothing holds the session
	held   func()      // tests: called each time hold kept the session open
}

// newIdleClock starts a clock; a zero or negative length never fires.
func newIdleClock(length time.Duration, hold func() bool, held func()) *idleClock {
	c := &idleClock{length: length, fired: make(chan struct{}), hold: hold, held: held}
	if length > 0 {
		c.timer = time.AfterFunc(length, c.expire)
	}
	return c
}

// expire ends the session, unless it is held: then the clock starts again.
func (c *idleClock) expire() {
	if c.hold != nil && c.hold() {
		c.timer.Reset(c.length)
		if c.held != nil {
			c.held()
		}
		return
	}
	c.once.Do(func() { close(c.fired) })
}

// filter is the program's message filter: it restarts the clock on input,
// and, like wish's own filter, turns a suspend request into a resume, since
// a remote user cannot suspend the server's process.
func (c *idleClock) filter(_ tea.Model, msg tea.Msg) tea.Msg {
	switch msg.(type) {
	case tea.KeyPressMsg, tea.MouseClickMsg, tea.MouseWheelMsg, tea.PasteMsg:
		if c.timer != nil && !c.hasExpired() {
			c.timer.Reset(c.length)
		}
	case tea.SuspendMsg:
		return tea.ResumeMsg{}
	}
	return msg
}

// expired is closed when the session has been idle for the clock's length.
func (c *idleClock) expired() <-chan struct{} { return c.fired }

func (c *idleClock) hasExpired() bool {
	select {
	case <-c.fired:
		return true
	default:
		return false
	}
}

// backstop is the connection-level idle limit behind the session's own: a
// little longer (slack; a minute if zero), for connections that never open
// a session. Any traffic counts: a session that a key on screen holds open
// sends a keepalive each time it holds (see keepAlive), so its connection
// stays open too.
func backstop(idle, slack time.Duration) time.Duration {
	if idle <= 0 {
		return 0
	}
	if slack <= 0 {
		slack = time.Minute
	}
	return idle + slack
}

// keepAlive sends the client a request it may ignore, as sshd's
// ClientAliveInterval does: traffic that keeps the connection's own idle
// limit from closing a session the idle clock holds open.
func keepAlive(sess interface {
	SendRequest(string, bool, []byte) (bool, error)
}) {
	_, _ = sess.SendRequest("keepalive@openssh.com", false, nil)
}
