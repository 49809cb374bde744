package api

import (
	"log/slog"
	"net"
	"net/http"

	"apiscopes/store"
)

// Server is the verify API's listener: /v1/verify, /v1/auth and the probes
// over HTTP, or HTTPS with WithTLS, with its connections kept within
// ConnLimits.
type Server struct {
	*http.Server
	conns *conns
}

// New returns the verify API's server on addr over st: its timeouts, header
// limit and connection bounds set (WithConnLimits; the defaults otherwise,
// cut to the process's descriptors), net/http's own errors sent to log
// (nil: discarded). Serve it with Serve.
func New(addr string, st *store.Store, log *slog.Logger, opts ...Option) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := newConfig(opts)
	budget := c.budget
	if budget <= 0 {
		budget = descriptorLimit()
	}
	c.limits = c.limits.inBudget(budget)
	s := &Server{Server: newServer(addr, newHandler(st, log, c), log, c.limits.Idle),
		conns: newConns(c.limits, c.proxies)}
	s.ConnState = s.conns.state
	s.TLSConfig = c.tls
	return s
}

// Serve answers connections from ln until Shutdown or Close: over TLS when
// the server was made WithTLS.
func (s *Server) Serve(ln net.Listener) error {
	if s.TLSConfig != nil {
		return s.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
	}
	return s.Server.Serve(ln)
}

// Limits are the connection bounds in force, the cap cut to the
// descriptor budget: for serve's log line at start.
func (s *Server) Limits() ConnLimits { return s.conns.limits }

// Conns is how many connections are open now, and how many were closed
// since the start to keep within the bounds: refused at their arrival, or
// closed while idle to make room.
func (s *Server) Conns() (open int, refused, evicted uint64) { return s.conns.count() }
