package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"apiscopes/server/forwardauth"
	"apiscopes/store"
)

// Outcomes of a verify the store never decided on, beside store.Reasons:
// with them, they are every value of the "reason" label.
const (
	outcomeBadRequest = "bad_request" // 400 other than unknown_scope: the body
	outcomeNoKey      = "no_key"      // 401: no key, or not as a bearer token
	outcomeTooLarge   = "too_large"   // 413
	outcomeError      = "error"       // 500
	outcomeNoRoute    = "no_route"    // /v1/auth and Check: no route matches the request
	outcomeNoScope    = "no_scope"    // /v1/auth and Check: nothing says which scope it needs
)

// outcomes are the values of the "reason" label beside store.Reasons.
var outcomes = []string{outcomeBadRequest, outcomeNoKey, outcomeTooLarge, outcomeError, outcomeNoRoute, outcomeNoScope}

// Metrics is what apiscopes serve tells Prometheus, on a listener of its
// own (--metrics ADDR): verify decisions by reason and their latency, the
// number of apps and keys, SSH sessions open by role and refused logins,
// writes the disk refused, the last hot backup's time and the refusal log
// lines left out. Every label takes its values from a fixed set, so no
// client can make the server keep a new series.
type Metrics struct {
	reg        *prometheus.Registry
	decisions  *prometheus.CounterVec
	latency    prometheus.Histogram
	lastBackup prometheus.Gauge
	auditHead  prometheus.Gauge

	sessions   atomic.Pointer[func(store.Role) int]
	refused    atomic.Pointer[func() uint64]
	suppressed atomic.Pointer[func() uint64] // the verify API's left-out log lines
	sshOmitted atomic.Pointer[func() uint64] // the SSH console's
}

// NewMetrics makes the metrics of a server over st, with Go's runtime and
// the process's own (memory, CPU, open files) beside them.
func NewMetrics(st *store.Store) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiscopes_verify_decisions_total",
			Help: "Verify requests by outcome: the decision's reason, or why the request was not decided.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "apiscopes_verify_duration_seconds",
			Help:    "Time to answer a verify request, from its first byte read to its answer written.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16), // 25 µs to 0.8 s
		}),
		lastBackup: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "apiscopes_last_backup_timestamp_seconds",
			Help: "When the last hot backup was written and checked, in Unix seconds; 0 before the first.",
		}),
		auditHead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "apiscopes_audit_head_sequence",
			Help: "The sequence number of the audit trail's newest event, as serve last logged (and signed) it.",
		}),
	}
	for _, r := range store.Reasons {
		m.decisions.WithLabelValues(string(r))
	}
	for _, o := range outcomes {
		m.decisions.WithLabelValues(o)
	}
	size := func(apps bool) func() float64 {
		return func() float64 {
			a, k := st.Size()
			if apps {
				return float64(a)
			}
			return float64(k)
		}
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.decisions, m.latency, m.lastBackup, m.auditHead,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "apiscopes_apps", Help: "Apps in the store."}, size(true)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "apiscopes_keys", Help: "API keys in the store."}, size(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "apiscopes_keys_beyond_policy",
			Help: "Keys that work and outlive the key policy's maximum lifetime for their app: made before the policy, never cut.",
		}, func() float64 {
			beyond, err := st.KeysBeyondPolicy(context.Background()) // a scrape has no context of its own
			if err != nil {
				return 0
			}
			return float64(len(beyond))
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "apiscopes_write_errors_total",
			Help: "Changes the file system refused (a full or read-only disk).",
		}, func() float64 { return float64(st.WriteErrors()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "apiscopes_ssh_logins_refused_total",
			Help: "SSH logins refused.",
		}, m.hook(&m.refused)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "apiscopes_log_lines_suppressed_total",
			Help:        "Refusal log lines left out by the per-source and total bounds, by listener.",
			ConstLabels: prometheus.Labels{"listener": "http"},
		}, m.hook(&m.suppressed)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "apiscopes_log_lines_suppressed_total",
			Help:        "Refusal log lines left out by the per-source and total bounds, by listener.",
			ConstLabels: prometheus.Labels{"listener": "ssh"},
		}, m.hook(&m.sshOmitted)),
	)
	for _, role := range []store.Role{store.Admin, store.Viewer} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "apiscopes_ssh_sessions_open",
			Help:        "SSH console sessions open, by role.",
			ConstLabels: prometheus.Labels{"role": string(role)},
		}, func() float64 {
			if f := m.sessions.Load(); f != nil {
				return float64((*f)(role))
			}
			return 0
		}))
	}
	return m
}

// hook reads a count that another part of the server keeps: 0 until it
// says where.
func (m *Metrics) hook(p *atomic.Pointer[func() uint64]) func() float64 {
	return func() float64 {
		if f := p.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	}
}

// CountSessions tells the metrics how many SSH sessions are open for a
// role; open is called at each scrape, and must be safe to call from any
// goroutine. A nil Metrics ignores it, so callers need not check.
func (m *Metrics) CountSessions(open func(role store.Role) int) {
	if m != nil {
		m.sessions.Store(&open)
	}
}

// CountRefusedLogins tells the metrics how many SSH logins have been
// refused since the start; refused is called at each scrape.
func (m *Metrics) CountRefusedLogins(refused func() uint64) {
	if m != nil {
		m.refused.Store(&refused)
	}
}

// CountSSHLinesLeftOut tells the metrics how many of the SSH console's
// refusal log lines its bounds left out since the start.
func (m *Metrics) CountSSHLinesLeftOut(n func() uint64) {
	if m != nil {
		m.sshOmitted.Store(&n)
	}
}

// AuditHead records the sequence number of the audit trail's newest
// event, as serve logs (and signs) it every hour: monitoring that keeps it
// can tell a trail rewritten from its head onwards.
func (m *Metrics) AuditHead(seq uint64) {
	if m != nil {
		m.auditHead.Set(float64(seq))
	}
}

// BackupTaken records a hot backup written and checked at at.
func (m *Metrics) BackupTaken(at time.Time) {
	if m != nil {
		m.lastBackup.Set(float64(at.UnixNano()) / 1e9)
	}
}

// verified records one verify request's outcome and time.
func (m *Metrics) verified(outcome string, took time.Duration) {
	if m != nil {
		m.decisions.WithLabelValues(outcome).Inc()
		m.latency.Observe(took.Seconds())
	}
}

// Checked records a check that another listener answered (Envoy's Check)
// as a verify's is counted: reason is one of store.Reasons or bad_request,
// no_key, no_route, no_scope; anything else counts as "error", so no caller
// can add a series.
func (m *Metrics) Checked(reason string, took time.Duration) {
	if m == nil {
		return
	}
	if !slices.Contains(outcomes, reason) && !slices.Contains(store.Reasons, store.Reason(reason)) {
		reason = outcomeError
	}
	m.verified(reason, took)
}

// countSuppressed tells the metrics where the log's left-out lines are
// counted.
func (m *Metrics) countSuppressed(n func() uint64) {
	if m != nil {
		m.suppressed.Store(&n)
	}
}

// NewMetricsServer returns the metrics listener's server on addr: the
// MetricsHandler with the verify API's timeouts and limits.
func NewMetricsServer(addr string, m *Metrics, st *store.Store, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := newServer(addr, MetricsHandler(m, st), log, IdleTimeout)
	srv.ConnState = newConns(ConnLimits{Max: metricsMaxConns}, forwardauth.Proxies{}).state
	return srv
}

// MetricsHandler serves GET /metrics in Prometheus's formats, and the
// probes /livez and /readyz (see Probes), for the metrics listener.
func MetricsHandler(m *Metrics, st *store.Store) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	live, ready := Probes(st)
	mux.HandleFunc("GET /livez", live)
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint; this server answers GET /metrics, /livez and /readyz"})
	})
	return mux
}
