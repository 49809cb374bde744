package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/log/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/bubbletea"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
	"apiscopes/tui"
)

// Config configures the SSH console server.
type Config struct {
	Addr        string        // where to listen, e.g. 127.0.0.1:23234
	HostKeyPath string        // ed25519 host key; generated on first start, then kept
	Allow       *AllowList    // who may log in, and as what
	IdleTimeout time.Duration // end a session whose user typed nothing this long; 0 means never
	MaxSessions int           // refuse sessions beyond this many at once; 0 means no limit
	MaxPTY      TermSize      // the largest terminal a session is drawn for; zero means DefaultMaxPTY
	Log         *log.Logger

	sizeSeen func(TermSize) // tests: called with each size the console is given
}

// SSH serves the console over SSH, one program per session, all on the one
// open store.
type SSH struct {
	st          *store.Store
	cfg         Config
	srv         *ssh.Server
	fingerprint string

	mu       sync.Mutex
	programs map[*tea.Program]struct{}
	closing  bool
	serving  chan struct{} // closed once Serve is accepting
	started  bool          // Serve was called
}

// NewSSH prepares the server; it listens once Serve or ListenAndServe runs.
func NewSSH(st *store.Store, cfg Config) (*SSH, error) {
	if cfg.Allow == nil {
		return nil, ErrNoAllowList
	}
	if cfg.Log == nil {
		cfg.Log = log.New(nil)
	}
	if cfg.MaxPTY.Width <= 0 || cfg.MaxPTY.Height <= 0 {
		cfg.MaxPTY = DefaultMaxPTY
	}
	s := &SSH{st: st, cfg: cfg, programs: map[*tea.Program]struct{}{}, serving: make(chan struct{})}
	srv, err := wish.NewServer(
		wish.WithAddress(cfg.Addr),
		wish.WithHostKeyPath(cfg.HostKeyPath),
		wish.WithPublicKeyAuth(s.authorize),
		// Sessions end themselves when idle (see session), restoring the
		// user's terminal first; this only catches connections that never
		// open one.
		wish.WithIdleTimeout(backstop(cfg.IdleTimeout)),
		wish.WithMiddleware(s.session),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh server: %w", err)
	}
	if len(srv.HostSigners) == 0 {
		return nil, errors.New("ssh server: no host key")
	}
	s.srv = srv
	s.fingerprint = gossh.FingerprintSHA256(srv.HostSigners[0].PublicKey())
	return s, nil
}

// Fingerprint is the host key's SHA256 fingerprint, for users to check on
// their first connection.
func (s *SSH) Fingerprint() string { return s.fingerprint }

// Serve accepts connections on ln until Shutdown; it then returns
// ssh.ErrServerClosed.
func (s *SSH) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ssh.ErrServerClosed
	}
	s.started = true
	s.mu.Unlock()
	return s.srv.Serve(&announcingListener{Listener: ln, ready: s.serving})
}

// Shutdown says goodbye to every session, waits for them to end (or ctx),
// and stops listening.
func (s *SSH) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	started := s.started
	for p := range s.programs {
		p.Quit()
	}
	s.mu.Unlock()
	if started { // let Serve finish starting: stopping a server mid-start never returns
		select {
		case <-s.serving:
		case <-ctx.Done():
		}
	}
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return s.srv.Close()
	}
	return err
}

// announcingListener closes ready when the server first asks for a
// connection, which is when it is fully started.
type announcingListener struct {
	net.Listener
	once  sync.Once
	ready chan struct{}
}

func (l *announcingListener) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.ready) })
	return l.Listener.Accept()
}

// authorize is the public-key check of the handshake. Passwords and
// keyboard-interactive are never offered.
func (s *SSH) authorize(ctx ssh.Context, key ssh.PublicKey) bool {
	if _, ok := s.cfg.Allow.Lookup(key); ok {
		return true
	}
	s.cfg.Log.Warn("auth refused", "user", ctx.User(), "remote", ctx.RemoteAddr(), "key", gossh.FingerprintSHA256(key))
	return false
}

// session runs one console. The key is checked again here, against the key
// the connection actually authenticated with, not any key merely offered
// during the handshake (the CVE-2024-45337 pattern).
func (s *SSH) session(ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		remote := sess.RemoteAddr().String()
		key := sess.PublicKey()
		person, ok := s.cfg.Allow.Lookup(key)
		if !ok {
			s.cfg.Log.Warn("session refused: key not allowed", "user", sess.User(), "remote", remote)
			wish.Fatalln(sess, "apiscopes: your key is not on the allow-list.")
			return
		}
		fp := gossh.FingerprintSHA256(key)
		name := person.Name
		if name == "" {
			name = sess.User()
		}
		pty, windows, hasPty := sess.Pty()
		if !hasPty {
			s.cfg.Log.Warn("session refused: no terminal", "user", name, "remote", remote)
			wish.Fatalln(sess, "apiscopes: the console needs a terminal. Connect with `ssh -t`, without a command.")
			return
		}
		actor := store.Actor{Name: name, Role: person.Role, Origin: fmt.Sprintf("ssh %s %s", remote, fp)}
		m := tui.New(tui.Options{Store: s.st, Actor: actor, Clipboard: tui.TerminalClipboard()})
		defer m.Close()
		idle := newIdleClock(s.cfg.IdleTimeout)
		// The client chooses the terminal's size, and a frame costs memory by
		// its cells: the first size and every later one are cut to MaxPTY
		// before the program sees them. MakeOptions passes the requested size
		// on unchecked; the options after it win, as each only sets a field.
		w, h := s.cfg.MaxPTY.clamp(pty.Window.Width, pty.Window.Height)
		opts := append(bubbletea.MakeOptions(sess), tea.WithWindowSize(w, h), tea.WithFilter(s.filter(idle)))
		p := tea.NewProgram(m, opts...)
		if err := s.admit(p); err != nil {
			s.cfg.Log.Warn("session refused", "user", name, "remote", remote, "reason", err)
			wish.Fatalln(sess, "apiscopes: "+err.Error())
			return
		}
		defer s.leave(p)

		start := time.Now()
		s.cfg.Log.Info("connect", "user", name, "role", person.Role, "remote", remote, "key", fp)
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
					p.Quit() // Bubble Tea restores the user's terminal on the way out
					return
				}
			}
		}()
		_, err := p.Run()
		if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
			s.cfg.Log.Error("session ended with an error", "user", name, "remote", remote, "err", err)
		}
		switch {
		case s.isClosing():
			wish.Println(sess, "\r\napiscopes: the server is shutting down. Your saved changes are safe. Goodbye.\r")
		case idle.hasExpired():
			s.cfg.Log.Info("idle timeout", "user", name, "remote", remote, "after", s.cfg.IdleTimeout)
			wish.Println(sess, fmt.Sprintf("\r\napiscopes: disconnected after %s without a keystroke. Your saved changes are safe.\r", s.cfg.IdleTimeout))
		}
		s.cfg.Log.Info("disconnect", "user", name, "remote", remote, "duration", time.Since(start).Round(time.Second))
		_ = sess.Exit(0)
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

// admit registers a session's program, refusing it when the server is
// full or shutting down.
func (s *SSH) admit(p *tea.Program) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return errors.New("the server is shutting down; try again shortly")
	case s.cfg.MaxSessions > 0 && len(s.programs) >= s.cfg.MaxSessions:
		return fmt.Errorf("too many sessions (%d open); try again later", len(s.programs))
	}
	s.programs[p] = struct{}{}
	return nil
}

func (s *SSH) leave(p *tea.Program) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.programs, p)
}

func (s *SSH) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}
