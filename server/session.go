package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/bubbletea"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
	"apiscopes/tui"
)

// session runs one console. The key is checked again here, against the key
// the connection actually authenticated with, not any key merely offered
// during the handshake (the CVE-2024-45337 pattern).
func (s *SSH) session(ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		remote := sess.RemoteAddr()
		key := sess.PublicKey()
		person, ok := s.cfg.Allow.Lookup(key)
		if !ok {
			s.refuse(sess, RefusedKey, "session refused: key not allowed", "your key is not on the allow-list", "user", sess.User())
			return
		}
		fp := gossh.FingerprintSHA256(key)
		name := person.Name
		if name == "" {
			name = sess.User()
		}
		pty, windows, hasPty := sess.Pty()
		if !hasPty {
			s.refuse(sess, RefusedNoTerminal, "session refused: no terminal",
				"the console needs a terminal. Connect with `ssh -t`, without a command", "user", name)
			return
		}
		o := &openSession{person: name, role: person.Role, remote: remote.String(), key: fp, since: time.Now()}
		if r := s.admit(o); r != nil {
			s.refuse(sess, r.reason, "session refused", r.message, "user", name)
			return
		}
		defer s.leave(o)

		s.cfg.Log.Info("connect", "user", name, "role", person.Role, "remote", o.remote, "key", fp)
		s.console(sess, o, pty.Window, windows)
		s.cfg.Log.Info("disconnect", "user", name, "remote", o.remote, "duration", time.Since(o.since).Round(time.Second))
		_ = sess.Exit(0)
	}
}

// refuse ends a session before it began: the user is told why, and the log
// gets a line within its rate.
func (s *SSH) refuse(sess ssh.Session, reason, logMsg, userMsg string, kv ...any) {
	s.refusals.refuse(reason, sess.RemoteAddr(), logMsg, kv...)
	wish.Fatalln(sess, "apiscopes: "+userMsg+".")
}

// console runs the console in the session until the user quits, the
// connection drops, or the server ends it (idle, lifetime, shutdown); then
// it says why, on the terminal Bubble Tea has handed back.
func (s *SSH) console(sess ssh.Session, o *openSession, first ssh.Window, windows <-chan ssh.Window) {
	actor := store.Actor{Name: o.person, Role: o.role, Origin: fmt.Sprintf("ssh %s %s", o.remote, o.key)}
	m := tui.New(tui.Options{Store: s.st, Actor: actor, Clipboard: tui.TerminalClipboard()})
	defer m.Close()
	idle := newIdleClock(s.cfg.IdleTimeout)
	life := newLifetime(s.cfg.MaxSessionTime)
	defer life.stop()
	// The client chooses the terminal's size, and a frame costs memory by
	// its cells: the first size and every later one are cut to MaxPTY
	// before the program sees them. MakeOptions passes the requested size
	// on unchecked; the options after it win, as each only sets a field.
	w, h := s.cfg.MaxPTY.clamp(first.Width, first.Height)
	opts := append(bubbletea.MakeOptions(sess), tea.WithWindowSize(w, h), tea.WithFilter(s.filter(idle)))
	p := tea.NewProgram(m, opts...)
	if !o.run(p) {
		return
	}

	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done(): // the connection dropped: end the program, lose nothing committed
				p.Quit()
				return
			case w := <-windows:
				cols, rows := s.cfg.MaxPTY.clamp(w.Width, w.Height)
				p.Send(tea.WindowSizeMsg{Width: cols, Height: rows})
			case <-idle.expired():
				o.end(endIdle)
				return
			case <-life.over():
				o.end(endLifetime)
				return
			}
		}
	}()
	_, err := p.Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		s.cfg.Log.Error("session ended with an error", "user", o.person, "remote", o.remote, "err", err)
	}
	switch o.endedFor() {
	case endShutdown:
		wish.Println(sess, "\r\napiscopes: the server is shutting down. Your saved changes are safe. Goodbye.\r")
	case endIdle:
		s.cfg.Log.Info("idle timeout", "user", o.person, "remote", o.remote, "after", s.cfg.IdleTimeout)
		wish.Println(sess, fmt.Sprintf("\r\napiscopes: disconnected after %s without a keystroke. Your saved changes are safe.\r", s.cfg.IdleTimeout))
	case endLifetime:
		s.cfg.Log.Info("session time over", "user", o.person, "remote", o.remote, "after", s.cfg.MaxSessionTime)
		wish.Println(sess, fmt.Sprintf("\r\napiscopes: sessions last at most %s; connect again to go on. Your saved changes are safe.\r", s.cfg.MaxSessionTime))
	}
}

// filter is a session program's message filter: sizes are cut to MaxPTY
// (whichever way they arrive), and input restarts the idle clock.
func (s *SSH) filter(idle *idleClock) func(tea.Model, tea.Msg) tea.Msg {
	return func(m tea.Model, msg tea.Msg) tea.Msg {
		if ws, ok := msg.(tea.WindowSizeMsg); ok {
			ws.Width, ws.Height = s.cfg.MaxPTY.clamp(ws.Width, ws.Height)
			if s.cfg.sizeSeen != nil {
				s.cfg.sizeSeen(TermSize(ws))
			}
			msg = ws
		}
		return idle.filter(m, msg)
	}
}
