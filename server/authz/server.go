package authz

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"apiscopes/server/api"
	"apiscopes/server/forwardauth"
	"apiscopes/server/lograte"
	"apiscopes/server/routes"
	"apiscopes/store"
)

// Bounds of the gRPC listener, each a resource a client could make it
// spend. Envoy keeps a few long-lived HTTP/2 connections and sends its
// checks over them as streams.
const (
	DefaultMaxConns             = 256              // connections at once; more are closed as they arrive
	DefaultMaxConnsPerSource    = 32               // from one address (trusted proxies exempt)
	DefaultMaxRecvBytes         = 128 << 10        // a CheckRequest: Envoy's 60 KiB of headers, and room
	DefaultMaxConcurrentStreams = 256              // checks at once on one connection
	ConnectionTimeout           = 10 * time.Second // to finish the TLS and HTTP/2 handshakes
	MaxConnectionIdle           = 5 * time.Minute  // a connection with no check this long is closed
	KeepaliveTime               = time.Minute      // ping a silent client this often…
	KeepaliveTimeout            = 20 * time.Second // …and close it if the ping goes unanswered
	KeepaliveMinTime            = 10 * time.Second // a client pinging more often is closed
)

// Config is what New needs beside the store. The zero value serves Check
// with context_extensions alone, no routes file, no TLS, the default
// bounds, and logs nothing.
type Config struct {
	Routes         *routes.Table // nil: the scope comes only from context_extensions
	Keys           forwardauth.Keys
	KeepKeyHeaders bool // pass the key's headers upstream; by default an allowed request loses them
	Log            *slog.Logger
	Metrics        *api.Metrics
	LogPerSource   int // refusal lines a second from one client address (0: lograte.DefaultPerSource; negative: no bound)
	LogTotal       int // refusal lines a second in all (0: lograte.DefaultTotal; negative: no bound)
	Now            func() time.Time
	TLS            *tls.Config
	Proxies        forwardauth.Proxies // exempt from the per-source cap: Envoy's addresses
	MaxConns       int
	MaxPerSource   int // negative: no bound
	MaxRecvBytes   int
	MaxStreams     uint32
}

// Server is the gRPC listener: Authorization/Check and the gRPC health
// service, which says SERVING while the store can answer truthfully.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	st     *store.Store
	cfg    Config
	stop   chan struct{}
}

// New returns the gRPC server over st.
func New(st *store.Store, cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	perSource, total := orDefault(cfg.LogPerSource, lograte.DefaultPerSource), orDefault(cfg.LogTotal, lograte.DefaultTotal)
	cfg.MaxConns = orDefault(cfg.MaxConns, DefaultMaxConns)
	cfg.MaxPerSource = orDefault(cfg.MaxPerSource, DefaultMaxConnsPerSource)
	cfg.MaxRecvBytes = orDefault(cfg.MaxRecvBytes, DefaultMaxRecvBytes)
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = DefaultMaxConcurrentStreams
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		grpc.MaxConcurrentStreams(cfg.MaxStreams),
		grpc.ConnectionTimeout(ConnectionTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: MaxConnectionIdle,
			Time: KeepaliveTime, Timeout: KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinTime, PermitWithoutStream: true}),
		grpc.MaxHeaderListSize(uint32(api.MaxHeaderBytes)),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	s := &Server{grpc: grpc.NewServer(opts...), health: health.NewServer(), st: st, cfg: cfg, stop: make(chan struct{})}
	authv3.RegisterAuthorizationServer(s.grpc, &checker{st: st, routes: cfg.Routes, keys: cfg.Keys,
		keepKeys: cfg.KeepKeyHeaders, log: cfg.Log, limit: lograte.New(perSource, total, cfg.Now), metrics: cfg.Metrics})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.setHealth()
	go s.watchHealth()
	return s
}

func orDefault(v, d int) int {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}

// healthEvery is how often the health service looks at the store.
const healthEvery = 250 * time.Millisecond

func (s *Server) setHealth() {
	status := healthpb.HealthCheckResponse_NOT_SERVING
	if s.st.Ready() {
		status = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", status)
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, status)
}

func (s *Server) watchHealth() {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.setHealth()
		}
	}
}

// Serve answers connections from ln, within the connection caps, until
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.grpc.Serve(newCapListener(ln, s.cfg.MaxConns, s.cfg.MaxPerSource, s.cfg.Proxies))
}

// Shutdown stops taking checks, says NOT_SERVING, and waits for the checks
// in flight until ctx ends, then closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		return ctx.Err()
	}
}
