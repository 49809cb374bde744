package api

import (
	"crypto/tls"
	"time"

	"apiscopes/server/forwardauth"
	"apiscopes/server/lograte"
	"apiscopes/server/routes"
)

// Option configures the verify API (Handler, New).
type Option func(*config)

type config struct {
	now                    func() time.Time
	logPerSource, logTotal int
	metrics                *Metrics
	routes                 *routes.Table
	keys                   forwardauth.Keys
	scopeHeader            bool
	proxies                forwardauth.Proxies
	limits                 ConnLimits
	budget                 int // descriptors the process may open; 0: its RLIMIT_NOFILE
	tls                    *tls.Config
}

func newConfig(opts []Option) config {
	c := config{now: time.Now, logPerSource: lograte.DefaultPerSource, logTotal: lograte.DefaultTotal,
		limits: DefaultConnLimits()}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithLogLimits bounds the refusal lines logged a second: perSource for
// each client address, total for all of them (0: no bound). The defaults
// are lograte.DefaultPerSource and lograte.DefaultTotal, as for the SSH
// console's refusals.
func WithLogLimits(perSource, total int) Option {
	return func(c *config) { c.logPerSource, c.logTotal = perSource, total }
}

// WithClock sets the clock that starts each second of the log's bounds.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMetrics records every verify's outcome and time, and the refusal
// lines left out of the log, in m.
func WithMetrics(m *Metrics) Option { return func(c *config) { c.metrics = m } }

// WithRoutes gives /v1/auth the scope each request needs (--routes FILE).
// Without it (and without WithScopeHeader) /v1/auth answers 500 no_scope:
// it never allows a request it cannot map to a scope.
func WithRoutes(t *routes.Table) Option { return func(c *config) { c.routes = t } }

// WithKeyHeader names the header /v1/auth reads a key from besides
// "Authorization: Bearer" (--auth-key-header; default X-API-Key).
func WithKeyHeader(name string) Option { return func(c *config) { c.keys.Header = name } }

// WithScopeHeader lets /v1/auth take the scope from X-Apiscopes-Scope
// (--scope-header), as set by a gateway's route; only from a trusted proxy
// (WithTrustedProxies), and never when sent twice. Every gateway
// configuration that uses it must overwrite the header a client sent.
func WithScopeHeader() Option { return func(c *config) { c.scopeHeader = true } }

// WithTrustedProxies names the gateways and load balancers
// (--trusted-proxies): only they may say who the client is or which scope a
// request needs, and they are exempt from the per-source connection cap.
func WithTrustedProxies(p forwardauth.Proxies) Option { return func(c *config) { c.proxies = p } }

// WithConnLimits bounds the listener's connections (New); see ConnLimits
// for the defaults and their arithmetic.
func WithConnLimits(l ConnLimits) Option { return func(c *config) { c.limits = l } }

// WithDescriptorBudget sets how many descriptors the process may open,
// instead of reading RLIMIT_NOFILE: the connection cap stays the budget less
// ConnLimits.Reserve. For tests.
func WithDescriptorBudget(n int) Option { return func(c *config) { c.budget = n } }

// WithTLS serves the API over TLS with cfg (--http-tls-cert and
// --http-tls-key; see server/certfile for a pair that reloads).
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }
