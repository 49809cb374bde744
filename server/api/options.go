package api

import (
	"time"

	"apiscopes/server/lograte"
)

// Option configures the verify API (Handler, New).
type Option func(*config)

type config struct {
	now                    func() time.Time
	logPerSource, logTotal int
	metrics                *Metrics
}

func newConfig(opts []Option) config {
	c := config{now: time.Now, logPerSource: lograte.DefaultPerSource, logTotal: lograte.DefaultTotal}
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
