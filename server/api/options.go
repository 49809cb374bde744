package api

import "time"

// Option configures the verify API (Handler, New).
type Option func(*config)

type config struct {
	now                    func() time.Time
	logPerSource, logTotal int
	metrics                *Metrics
}

func newConfig(opts []Option) config {
	c := config{now: time.Now, logPerSource: DefaultLogPerSource, logTotal: DefaultLogTotal}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithLogLimits bounds the refusal lines logged per minute: perSource for
// each client address, total for all of them (0: no bound). The defaults
// are DefaultLogPerSource and DefaultLogTotal.
func WithLogLimits(perSource, total int) Option {
	return func(c *config) { c.logPerSource, c.logTotal = perSource, total }
}

// WithClock sets the clock that starts each minute of the log's bounds.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMetrics records every verify's outcome and time, and the refusal
// lines left out of the log, in m.
func WithMetrics(m *Metrics) Option { return func(c *config) { c.metrics = m } }
