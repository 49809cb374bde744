package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/bubbletea"
	"github.com/charmbracelet/colorprofile"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
	"apiscopes/tui"
)

// session runs one console. The key is checked again here, against the key
// the connection actually authenticated with, not any key merely offered
// during the handshake (the CVE-2024-45337 pattern).
func (s *SSH) session(ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		key := sess.PublicKey()
		entry, gen, err := s.cfg.Allow.Login(key, sess.RemoteAddr())
		if err != nil {
			var d *DeniedError
			reason := RefusedKey
			if errors.As(err, &d) {
				reason = d.Reason
			}
			s.refuse(sess, reason, "session refused: "+err.Error(), "your key is not allowed here", "user", sess.User())
			return
		}
		o := &openSession{person: entry.Name, remote: sess.RemoteAddr(), key: key, fp: gossh.FingerprintSHA256(key),
			since: time.Now(), entry: entry, gen: gen, role: entry.Role}
		if args := sess.Command(); len(args) > 0 || entry.opts.command != "" {
			s.command(sess, o, args)
			return
		}
		pty, windows, hasPty := sess.Pty()
		switch {
		case !hasPty:
			s.refuse(sess, RefusedNoTerminal, "session refused: no terminal",
				"the console needs a terminal: connect with ssh -t", "user", o.person)
			return
		case entry.opts.noPTY:
			s.refuse(sess, RefusedNoPTY, "session refused: the key's line forbids a terminal",
				fmt.Sprintf("your key is listed with %s, which allows no terminal, and the console needs one. "+
					"Ask an admin to add the pty option after %s on your key's line", entry.opts.ptyOff, entry.opts.ptyOff),
				"user", o.person, "line", entry.Source)
			return
		}
		o.size.Width, o.size.Height = s.cfg.MaxPTY.clamp(pty.Window.Width, pty.Window.Height)
		if r := s.admit(o); r != nil {
			s.refuse(sess, r.reason, "session refused", r.message, "user", o.person)
			return
		}
		defer s.leave(o)

		s.cfg.Log.Info("connect", "user", o.person, "role", entry.Role, "remote", o.remote.String(), "key", o.fp, "open", s.openCount())
		if ok, skipped := s.logins.record(o.fp); ok {
			s.recordSession(sess.Context(), store.ActionSessionLogin, o, "", skipped)
		}
		ended := s.console(sess, o, windows)
		s.cfg.Log.Info("disconnect", "user", o.person, "remote", o.remote.String(), "duration", time.Since(o.since).Round(time.Second), "open", s.openCount()-1)
		status := 0
		if ended == endRevoked {
			status = 1 // refused, as the exit codes have it everywhere
		}
		_ = sess.Exit(status)
	}
}

// refuse ends a session before it began: the user is told why, and the log
// gets a line within its rate.
func (s *SSH) refuse(sess ssh.Session, reason, logMsg, userMsg string, kv ...any) {
	s.refusals.refuse(reason, sess.RemoteAddr(), logMsg, kv...)
	wish.Fatalln(sess, "apiscopes: "+userMsg+".")
}

// console runs the console in the session until the user quits, the
// connection drops, or the server ends it (idle, lifetime, revoked,
// shutdown); then it says why, on the terminal Bubble Tea has handed back,
// and reports it ("" when the user quit). A demoted session's console
// closes and reopens read-only. Idleness never ends a session with a key
// shown once on its screen.
func (s *SSH) console(sess ssh.Session, o *openSession, windows <-chan ssh.Window) string {
	idle := newIdleClock(s.cfg.IdleTimeout, o.keyOnScreen, func() {
		keepAlive(sess)
		if s.cfg.idleHeld != nil {
			s.cfg.idleHeld()
		}
	})
	life := newLifetime(s.cfg.MaxSessionTime)
	defer life.stop()
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	go s.tend(ctx, o, idle, life, windows)

	// The client chooses the terminal's size, and a frame costs memory by
	// its cells: the first size and every later one are cut to MaxPTY
	// before the program sees them. MakeOptions passes the requested size
	// on unchecked; the options after it win, as each only sets a field.
	// The environment is the terminal's type and TZ, nothing more (see
	// sessionEnv); the colour profile follows from it alone.
	pty, _, _ := sess.Pty()
	env := sessionEnv(pty.Term, sess.Environ())
	opts := append(slices.Clip(bubbletea.MakeOptions(sess)), tea.WithEnvironment(env),
		tea.WithColorProfile(colorprofile.Env(env)))
	input := newInputRelay(sess)
	defer input.close()
	origin := fmt.Sprintf("ssh %s %s", o.remote, o.fp)
	for {
		role, size, _, _ := o.state()
		actor := store.Actor{Name: o.person, Role: role, Origin: origin, Key: o.fp,
			Standing: func() (store.Role, error) { return s.standing(o) }}
		m := tui.New(tui.Options{Context: ctx, Store: s.st, Actor: actor, Clipboard: tui.TerminalClipboard(), Term: pty.Term})
		over := make(chan struct{})
		p := tea.NewProgram(newRepainting(m, s.cfg.repaintQuiet), append(opts, tea.WithInput(input.reader(over)),
			tea.WithWindowSize(size.Width, size.Height), tea.WithFilter(s.filter(idle)))...)
		if !o.run(p, m) {
			m.Close()
			break
		}
		_, err := p.Run()
		close(over)
		o.run(nil, nil)
		m.Close()
		if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
			s.cfg.Log.Error("session ended with an error", "user", o.person, "remote", o.remote.String(), "err", err)
		}
		if !o.reopen() {
			break
		}
		wish.Println(sess, "\r\napiscopes: you are now a viewer: the console reopens read-only.\r")
	}
	_, _, ended, why := o.state()
	lost := ""
	if k, ok := o.shownKey(); ok {
		lost = " " + keyLost(k)
	}
	switch ended {
	case endShutdown:
		wish.Println(sess, "\r\napiscopes: the server is shutting down."+lost+" Your saved changes are safe. Goodbye.\r")
	case endIdle:
		s.cfg.Log.Info("idle timeout", "user", o.person, "remote", o.remote.String(), "after", s.cfg.IdleTimeout)
		wish.Println(sess, fmt.Sprintf("\r\napiscopes: disconnected after %s without a keystroke. Your saved changes are safe.\r", s.cfg.IdleTimeout))
	case endLifetime:
		s.cfg.Log.Info("session time over", "user", o.person, "remote", o.remote.String(), "after", s.cfg.MaxSessionTime)
		wish.Println(sess, fmt.Sprintf("\r\napiscopes: sessions last at most %s; connect again to go on.%s Your saved changes are safe.\r", s.cfg.MaxSessionTime, lost))
	case endRevoked:
		wish.Println(sess, fmt.Sprintf("\r\napiscopes: your access was revoked (%s).%s Changes saved before now are kept.\r", why, lost))
	}
	return ended
}

// keyLost tells whoever had a key shown once on screen when the session
// ended that it cannot be shown again: named by its hint, never its text.
func keyLost(k tui.ShownKey) string {
	if k.Sent {
		return fmt.Sprintf("The API key %q (%s) of %q was sent to your terminal with OSC 52 and is not shown again: "+
			"if it did not arrive, delete it and create another.", k.Name, k.Hint, k.App)
	}
	return fmt.Sprintf("The API key %q (%s) of %q was on screen and not copied: it is not shown again, "+
		"so delete it and create another.", k.Name, k.Hint, k.App)
}

// tend watches a session from outside its console: it passes on window
// changes (cut to MaxPTY) and ends the session when the connection drops,
// the user has been idle too long, or the session's lifetime is over.
func (s *SSH) tend(ctx context.Context, o *openSession, idle *idleClock, life *lifetime, windows <-chan ssh.Window) {
	for {
		select {
		case <-ctx.Done(): // the connection dropped: end the console, lose nothing committed
			o.end(endDropped)
			return
		case w := <-windows:
			cols, rows := s.cfg.MaxPTY.clamp(w.Width, w.Height)
			o.resize(TermSize{Width: cols, Height: rows})
		case <-idle.expired():
			o.end(endIdle)
			return
		case <-life.over():
			o.end(endLifetime)
			return
		}
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
