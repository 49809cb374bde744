package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"charm.land/log/v2"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"apiscopes/server/api"
	"apiscopes/server/authz"
	"apiscopes/server/certfile"
	"apiscopes/server/forwardauth"
	"apiscopes/server/routes"
	"apiscopes/store"
)

// gatewayFlags are serve's settings for the gateways (docs/gateways.md):
// /v1/auth's routes and headers, TLS, Envoy's gRPC Check, and the HTTP
// listener's connection bounds.
type gatewayFlags struct {
	routes       string
	keyHeader    string
	scopeHeader  bool
	proxies      string
	tlsCert      string
	tlsKey       string
	grpcAddr     string
	maxConns     int
	maxPerSource int
}

func (g *gatewayFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&g.routes, "routes", "", "the routes file: which scope each method and path needs, for /v1/auth and\n--grpc (docs/gateways.md); read again on SIGHUP")
	fl.StringVar(&g.keyHeader, "auth-key-header", forwardauth.DefaultKeyHeader, "the header /v1/auth and --grpc read a key from, beside Authorization: Bearer")
	fl.BoolVar(&g.scopeHeader, "scope-header", false, "let a gateway in --trusted-proxies name the scope in X-Apiscopes-Scope")
	fl.StringVar(&g.proxies, "trusted-proxies", "", "addresses and CIDR networks of gateways and load balancers, comma-separated:\nthey may name the client and the scope, and have no per-source cap")
	fl.StringVar(&g.tlsCert, "http-tls-cert", "", "serve --http and --grpc over TLS with this certificate (PEM); read again on SIGHUP")
	fl.StringVar(&g.tlsKey, "http-tls-key", "", "the certificate's private key (PEM)")
	fl.StringVar(&g.grpcAddr, "grpc", "", "serve Envoy's ext_authz Check and the gRPC health service at this address\n(default: off)")
	fl.IntVar(&g.maxConns, "http-max-conns", api.DefaultMaxConns, "HTTP connections at once; never more than the process's descriptors less 512")
	fl.IntVar(&g.maxPerSource, "http-max-conns-per-source", api.DefaultMaxConnsPerSource, "HTTP connections from one address; --trusted-proxies are exempt (0 no limit)")
	fl.Duration("http-idle-timeout", api.IdleTimeout, "close an HTTP keep-alive connection idle this long")
}

// gateways is what the flags name, read and checked at start.
type gateways struct {
	routes  *routes.Table // nil without --routes
	pair    *certfile.Pair
	proxies forwardauth.Proxies
	flags   *gatewayFlags
	limits  api.ConnLimits
}

// load reads the routes file and the TLS pair and checks the flags
// together: any problem stops serve before it opens the database.
func (g *gatewayFlags) load(fl *pflag.FlagSet, httpAddr string) (*gateways, error) {
	gw := &gateways{flags: g}
	idle, _ := fl.GetDuration("http-idle-timeout")
	switch {
	case g.maxConns <= 0:
		return nil, fmt.Errorf("--http-max-conns must be positive, e.g. %d", api.DefaultMaxConns)
	case g.maxPerSource < 0:
		return nil, errors.New("--http-max-conns-per-source cannot be negative (0 means no limit)")
	case idle <= 0:
		return nil, errors.New("--http-idle-timeout must be positive, e.g. 15s")
	case (g.tlsCert == "") != (g.tlsKey == ""):
		return nil, errors.New("--http-tls-cert and --http-tls-key go together: give both, or neither")
	case strings.TrimSpace(g.keyHeader) == "" || strings.ContainsAny(g.keyHeader, " :\t"):
		return nil, errors.New("--auth-key-header needs a header name, e.g. X-API-Key")
	case httpAddr == "" && g.grpcAddr == "" && (g.routes != "" || g.scopeHeader || g.tlsCert != ""):
		return nil, errors.New("--routes, --scope-header and --http-tls-cert are for /v1/auth and --grpc: add --http ADDR or --grpc ADDR")
	}
	gw.limits = api.ConnLimits{Max: g.maxConns, MaxPerSource: g.maxPerSource, Idle: idle}
	if g.maxPerSource == 0 {
		gw.limits.MaxPerSource = -1
	}
	var err error
	if gw.proxies, err = forwardauth.ParseProxies(g.proxies); err != nil {
		return nil, err
	}
	if g.scopeHeader && gw.proxies.Len() == 0 {
		return nil, errors.New("--scope-header takes the scope only from a gateway: name it with --trusted-proxies ADDR")
	}
	if g.routes != "" {
		if gw.routes, err = routes.Open(g.routes); err != nil {
			return nil, err
		}
	}
	if g.tlsCert != "" {
		if gw.pair, err = certfile.Load(g.tlsCert, g.tlsKey); err != nil {
			return nil, err
		}
	}
	return gw, nil
}

// httpOptions configure the verify API's listener.
func (gw *gateways) httpOptions() []api.Option {
	opts := []api.Option{api.WithKeyHeader(gw.flags.keyHeader), api.WithTrustedProxies(gw.proxies), api.WithConnLimits(gw.limits)}
	if gw.routes != nil {
		opts = append(opts, api.WithRoutes(gw.routes))
	}
	if gw.flags.scopeHeader {
		opts = append(opts, api.WithScopeHeader())
	}
	if gw.pair != nil {
		opts = append(opts, api.WithTLS(gw.pair.Config()))
	}
	return opts
}

// scheme is the verify API's URL scheme.
func (gw *gateways) scheme() string {
	if gw.pair != nil {
		return "https"
	}
	return "http"
}

// serveGRPC starts Envoy's Check on --grpc, or does nothing without it.
func (gw *gateways) serveGRPC(st *store.Store, logger *log.Logger, metrics *api.Metrics, perSource, total int, failed chan<- error) (*authz.Server, error) {
	if gw.flags.grpcAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", gw.flags.grpcAddr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s; choose another address with --grpc: %w", gw.flags.grpcAddr, err)
	}
	cfg := authz.Config{Routes: gw.routes, Keys: forwardauth.Keys{Header: gw.flags.keyHeader}, Log: slog.New(logger),
		Metrics: metrics, LogPerSource: orNoBound(perSource), LogTotal: orNoBound(total), Proxies: gw.proxies}
	if gw.pair != nil {
		cfg.TLS = gw.pair.Config()
	}
	srv := authz.New(st, cfg)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			failed <- fmt.Errorf("grpc: %w", err)
		}
	}()
	scopeFrom := "context_extensions only (no --routes)"
	if gw.routes != nil {
		scopeFrom = "context_extensions, else " + gw.routes.Path()
	}
	logger.Info("ext_authz Check ready", "addr", ln.Addr().String(), "tls", gw.pair != nil, "scope", scopeFrom)
	return srv, nil
}

// orNoBound turns the refusal log flags' 0 (no bound) into authz's.
func orNoBound(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// reload reads the routes file and the TLS pair again (SIGHUP); a file
// that has turned bad keeps what is in force, and the log says why.
func (gw *gateways) reload(logger *log.Logger) {
	if gw.routes != nil {
		if err := gw.routes.Reload(); err != nil {
			logger.Error("SIGHUP: routes not reloaded", "err", err)
		} else {
			logger.Info("SIGHUP: routes reloaded", "file", gw.routes.Path(), "routes", gw.routes.Len())
		}
	}
	if gw.pair != nil {
		if err := gw.pair.Reload(); err != nil {
			logger.Error("SIGHUP: TLS certificate not reloaded", "err", err)
		} else {
			logger.Info("SIGHUP: TLS certificate reloaded", "cert", gw.flags.tlsCert)
		}
	}
}
