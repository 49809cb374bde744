package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"charm.land/log/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
)

// Config configures the SSH console server. Every bound a client could
// otherwise push is here; serve's flags give each a safe default.
type Config struct {
	Addr        string        // where to listen, e.g. 127.0.0.1:23234
	HostKeyPath string        // ed25519 host key; generated on first start, then kept
	Allow       *AllowList    // who may log in, and as what
	IdleTimeout time.Duration // end a session whose user typed nothing this long; 0 means never
	MaxPTY      TermSize      // the largest terminal a session is drawn for; zero means DefaultMaxPTY

	HandshakeTimeout   time.Duration // close a connection not logged in this long after it opened; 0 means never
	MaxUnauthenticated int           // close new connections while this many are not logged in yet; 0 means no limit

	// Of MaxUnauthenticated, how many one source (an IPv4 address, an IPv6
	// /64) may hold; zero means DefaultUnauthenticatedPerSource (or
	// MaxUnauthenticated, if that is less).
	MaxUnauthenticatedPerSource int
	// Below MaxUnauthenticated, refuse new connections at random from
	// EarlyDrop.Start on (sshd's MaxStartups); the zero value means
	// DefaultEarlyDrop(MaxUnauthenticated), NoEarlyDrop none.
	EarlyDrop EarlyDrop
	// Connections from these networks (a load balancer's) must open with a
	// PROXY protocol header, whose source address then stands for the
	// client's; none trusted when empty.
	ProxyProtocolFrom []netip.Prefix

	MaxSessions        int           // refuse sessions beyond this many at once; 0 means no limit
	AdminSlots         int           // of MaxSessions, how many only admins may take
	MaxSessionsPerUser int           // refuse a person's sessions beyond this many; 0 means no limit
	MaxSessionTime     time.Duration // end any session this long after it began; 0 means never
	MaxFollowers       int           // sessions following the audit trail at once, beside the others; 0 means DefaultMaxFollowers

	// Commands runs what a client asks instead of the console (`ssh HOST
	// app list`); nil: only the console is served.
	Commands func(ctx context.Context, c CommandCall) int

	// MemoryLimit is the memory the process is to stay within, the Go
	// memory limit (see SetMemoryLimit): a new session is refused when it
	// would not fit beside the verify index and the sessions open (see
	// SessionsWithin). 0 means no budget.
	MemoryLimit int64

	// Refusals are logged at most LogPerSource lines a second for one remote
	// address and LogTotal in all (0: no limit); the rest are only counted.
	LogPerSource, LogTotal int

	Log *log.Logger

	now          func() time.Time // the refusal log's and login audit's clock; time.Now when nil
	pollEvery    time.Duration    // how often open sessions follow the allow-lists; defaultPollEvery when zero
	sizeSeen     func(TermSize)   // tests: called with each size the console is given
	repaintQuiet time.Duration    // how long a console draws nothing before it is repainted; repaintQuiet when zero
	random       func(n int) int  // the early drop's dice, a number in [0, n); math/rand/v2's when nil
	idleHeld     func()           // tests: called each time a key on screen keeps an idle session open

	backstopSlack time.Duration // tests: the connection's limits' lead over the session's; a minute when zero
}

// DefaultMaxUnauthenticated is serve's bound on connections not logged in
// yet, sshd's MaxStartups full at about two thirds: each costs a goroutine,
// buffers and a key exchange until the handshake timeout ends it.
const DefaultMaxUnauthenticated = 64

// DefaultUnauthenticatedPerSource is how many connections not logged in
// one source may hold unless configured otherwise: an eighth of the default
// MaxUnauthenticated, plenty for the admins of one office behind one
// address logging in at once, as each holds its place for a handshake's
// milliseconds.
const DefaultUnauthenticatedPerSource = 8

// DefaultMaxFollowers is how many sessions may follow the audit trail at
// once unless Config says otherwise.
const DefaultMaxFollowers = 8

// SSH serves the console over SSH, one program per session, all on the one
// open store.
type SSH struct {
	st          *store.Store
	cfg         Config
	srv         *ssh.Server
	fingerprint string
	gate        *gate
	refusals    *refusalLog
	logins      *loginAudit
	slots       slots
	stopWatch   chan struct{} // closed by Shutdown: the allow-list watch ends

	mu       sync.Mutex
	sessions map[*openSession]struct{}
	conns    *tally // connections being handled
	running  *tally // sessions admitted and not yet over
	closing  bool
	serving  chan struct{} // closed once Serve is accepting
	served   chan struct{} // closed once Serve has returned
	ln       net.Listener  // what Serve accepts on
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
	if cfg.pollEvery <= 0 {
		cfg.pollEvery = defaultPollEvery
	}
	if cfg.MaxSessions > 0 && cfg.AdminSlots > cfg.MaxSessions {
		return nil, fmt.Errorf("ssh server: %d admin slots is more than the %d sessions allowed", cfg.AdminSlots, cfg.MaxSessions)
	}
	s := &SSH{
		st:       st,
		cfg:      cfg,
		refusals: newRefusalLog(cfg.Log, cfg.LogPerSource, cfg.LogTotal, cfg.now),
		logins:   newLoginAudit(cfg.now),
		slots: slots{max: cfg.MaxSessions, adminSlots: cfg.AdminSlots, perUser: cfg.MaxSessionsPerUser,
			followers: cmp.Or(cfg.MaxFollowers, DefaultMaxFollowers)},
		sessions:  map[*openSession]struct{}{},
		conns:     newTally(),
		running:   newTally(),
		serving:   make(chan struct{}),
		served:    make(chan struct{}),
		stopWatch: make(chan struct{}),
	}
	s.gate = newGate(cfg)
	if _, err := os.Stat(cfg.HostKeyPath); err == nil {
		if err := checkHostKeyModes(cfg.HostKeyPath); err != nil {
			return nil, fmt.Errorf("ssh server: %w", err)
		}
	}
	srv, err := wish.NewServer(
		wish.WithAddress(cfg.Addr),
		wish.WithHostKeyPath(cfg.HostKeyPath),
		wish.WithPublicKeyAuth(s.authorize),
		// Sessions end themselves when idle or at the end of their lifetime
		// (see session), restoring the user's terminal first; these only
		// catch connections that never open one.
		wish.WithIdleTimeout(backstop(cfg.IdleTimeout, cfg.backstopSlack)),
		wish.WithMaxTimeout(backstop(cfg.MaxSessionTime, cfg.backstopSlack)),
		wish.WithMiddleware(s.session),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh server: %w", err)
	}
	if len(srv.HostSigners) == 0 {
		return nil, errors.New("ssh server: no host key")
	}
	if cfg.HostKeyPath != "" {
		if err := checkHostKeyModes(cfg.HostKeyPath); err != nil { // made just now, or already there
			return nil, fmt.Errorf("ssh server: %w", err)
		}
	}
	// A slow trickle of bytes cannot hold a connection open: the handshake
	// has a deadline that reading does not move.
	srv.HandshakeTimeout = cfg.HandshakeTimeout
	srv.ConnectionFailedCallback = s.handshakeFailed
	srv.ConnCallback, srv.ConnectionCloseCallback = s.connOpened, s.connClosed
	srv.ServerConfigCallback = authConfig
	s.srv = srv
	s.fingerprint = gossh.FingerprintSHA256(srv.HostSigners[0].PublicKey())
	return s, nil
}

// Fingerprint is the host key's SHA256 fingerprint, for users to check on
// their first connection.
func (s *SSH) Fingerprint() string { return s.fingerprint }

// Refusals counts the connections, logins and sessions refused so far.
func (s *SSH) Refusals() RefusalStats { return s.refusals.Stats() }

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
	s.ln = ln
	s.mu.Unlock()
	defer close(s.served)
	go s.watch(s.stopWatch)
	err := s.srv.Serve(&announcingListener{Listener: proxied(ln, s.cfg.ProxyProtocolFrom, s.cfg.HandshakeTimeout), ready: s.serving})
	if s.isClosing() {
		return ssh.ErrServerClosed
	}
	return err
}

// Shutdown stops listening, says goodbye to every session and waits for
// them to end (or ctx). Connections left without a session get a moment to
// close on their own, so the goodbye is read before the server closes them.
func (s *SSH) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	again := s.closing
	s.closing = true
	started, ln := s.started, s.ln
	open := slices.Collect(maps.Keys(s.sessions))
	s.mu.Unlock()
	for _, o := range open {
		o.end(endShutdown)
	}
	var err error
	if started {
		if !again {
			close(s.stopWatch)
		}
		select { // let Serve finish starting: stopping a server mid-start never returns
		case <-s.serving:
		case <-ctx.Done():
		}
		ln.Close()
		select {
		case <-s.served:
		case <-ctx.Done():
		}
		select {
		case <-s.running.gone():
		case <-ctx.Done():
			err = ctx.Err()
		}
		linger := time.NewTimer(connLinger)
		defer linger.Stop()
		select {
		case <-s.conns.gone():
		case <-linger.C:
		case <-ctx.Done():
		}
	}
	if cerr := s.srv.Close(); err == nil {
		err = cerr
	}
	return err
}

// connLinger is how long Shutdown leaves connections without a session to
// close on their own.
const connLinger = time.Second

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
	e, _, err := s.cfg.Allow.Login(key, ctx.RemoteAddr())
	if err == nil {
		return true
	}
	reason := RefusedKey
	var d *DeniedError
	if errors.As(err, &d) {
		reason = d.Reason
	}
	kv := []any{"user", ctx.User(), "key", gossh.FingerprintSHA256(key)}
	if e.Source != "" {
		kv = append(kv, "line", e.Source)
	}
	s.refusals.refuse(reason, ctx.RemoteAddr(), "auth refused: "+err.Error(), kv...)
	return false
}

// handshakeFailed logs connections that ran out of time before logging in;
// a client that gives up on its own is not worth a line.
func (s *SSH) handshakeFailed(conn net.Conn, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.refusals.refuse(RefusedHandshake, conn.RemoteAddr(), "connection closed: no login in time", "timeout", s.cfg.HandshakeTimeout)
	}
}
