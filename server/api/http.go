// Package server is the HTTP verify API: the services that receive API keys
// ask it whether a key may use a scope, and get the answer the store gives
// at that moment. It never logs, echoes or stores a key. Its metrics and
// probes (metrics.go, probes.go) and the SSH console (ssh.go) live here too.
package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/forwardauth"
	"apiscopes/server/lograte"
	"apiscopes/server/routes"
	"apiscopes/store"
)

// MaxBodyBytes is the largest request body the API reads. A verify request
// is a key and a scope id: under 200 bytes.
const MaxBodyBytes = 4 << 10

// Server timeouts: generous for a request of a few hundred bytes, short
// enough that a slow or stalled client cannot hold a connection for long.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 10 * time.Second
	MaxHeaderBytes    = 16 << 10
)

// newServer is an http.Server for h with the API's timeouts and limits: the
// verify API's, and the metrics listener's.
func newServer(addr string, h http.Handler, log *slog.Logger, idle time.Duration) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Handler serves the API over st:
//
//	POST /v1/verify  {"key": "aps_…", "scope": "model:deploy"}, or the key
//	                 as "Authorization: Bearer aps_…" and {"scope": "…"};
//	                 "client_ip": "192.0.2.7" for a key limited to addresses
//	GET  /healthz    200 {"status": "ok"} while the store is open, else 503
//	GET  /readyz     the same as /healthz
//	GET  /livez      200 {"status": "ok"} while the process serves
//	ANY  /v1/auth    forward-auth for gateways (auth.go)
//
// A verify answers 200 with the app, the key and the app's scopes when the
// key may use the scope, 403 with the reason when it may not (its scope, or
// the address it was used from), and 503 when the store cannot answer
// truthfully (a replica not current, or one whose database moved past its
// schema). A request
// it cannot decide on gets 400 (bad JSON, no or unknown scope), 401 (no
// key) or 413 (a body over MaxBodyBytes). Refusals and errors are logged at
// Info, no more than the log's bounds allow (WithLogLimits), allowed checks
// at Debug; a log line names the key by its hint only, and only once the
// store recognised it.
func Handler(st *store.Store, log *slog.Logger, opts ...Option) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return newHandler(st, log, newConfig(opts))
}

func newHandler(st *store.Store, log *slog.Logger, c config) http.Handler {
	h := &handler{st: st, log: log, metrics: c.metrics,
		limit:  lograte.New(c.logPerSource, c.logTotal, c.now),
		routes: c.routes, keys: c.keys, scopeHeader: c.scopeHeader, proxies: c.proxies}
	c.metrics.countSuppressed(h.limit.Suppressed)
	live, ready := Probes(st)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/verify", h.verify)
	mux.HandleFunc("GET /healthz", ready)
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("GET /livez", live)
	mux.HandleFunc("/v1/verify", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: `use POST with {"key": "aps_…", "scope": "…"}`})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint; this server answers POST /v1/verify, any method on /v1/auth, and GET /healthz, /readyz and /livez"})
	})
	// /v1/auth and what follows it go to auth as they were sent: the mux
	// would answer a path with dot segments with a redirect.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, AuthPath) && isAuthPath(r.URL.EscapedPath()) {
			h.auth(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// isAuthPath reports whether an escaped path is /v1/auth or below it.
func isAuthPath(p string) bool { return p == AuthPath || strings.HasPrefix(p, AuthPath+"/") }

type handler struct {
	st      *store.Store
	log     *slog.Logger
	metrics *Metrics // nil: none
	limit   *lograte.Limiter

	routes      *routes.Table // nil: /v1/auth finds no scope in paths
	keys        forwardauth.Keys
	scopeHeader bool
	proxies     forwardauth.Proxies
}

// Response is the answer to a verify, as the HTTP API and `apiscopes verify
// --json` write it.
type Response struct {
	Allowed bool         `json:"allowed"`
	Reason  store.Reason `json:"reason"`
	Message string       `json:"message,omitempty"` // one line for a person; never holds the key
	Scope   scopes.ID    `json:"scope,omitempty"`
	App     *AppBody     `json:"app,omitempty"`    // when allowed
	Key     *KeyBody     `json:"key,omitempty"`    // when allowed
	Scopes  []string     `json:"scopes,omitempty"` // the app's scopes, when allowed
}

// AppBody is the app a key belongs to.
type AppBody struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

// KeyBody describes a key without its text.
type KeyBody struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Hint      string    `json:"hint"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	DeleteAt  time.Time `json:"delete_at,omitzero"` // a rolled key's end
}

// NewResponse describes a decision. Only an allowed one carries the app, key
// and scopes: a refusal tells the caller why, and nothing more.
func NewResponse(d store.Decision) Response {
	r := Response{Allowed: d.Allowed, Reason: d.Reason}
	if _, known := scopes.Lookup(d.Scope); known {
		r.Scope = d.Scope // validated: the only request value an answer repeats
	}
	if !d.Allowed {
		r.Message = store.SafeText(d.String())
		if d.Reason == store.UnknownScope {
			r.Message = "denied: " + unknownScope(string(d.Scope))
		}
		return r
	}
	app, key := d.App(), d.Key()
	r.App = &AppBody{ID: app.ID, Name: app.Name}
	r.Key = &KeyBody{ID: key.ID, Name: key.Name, Hint: key.Hint, CreatedAt: key.CreatedAt,
		ExpiresAt: key.ExpiresAt, DeleteAt: key.DeleteAt}
	r.Scopes = app.Scopes.Strings()
	return r
}

// errorBody is a request the API could not decide on.
type errorBody struct {
	Allowed bool         `json:"allowed"`
	Reason  store.Reason `json:"reason,omitempty"`
	Error   string       `json:"error"`
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req, err := decodeRequest(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		bad := err.(*badRequest)
		msg := bad.msg
		if bad.status == http.StatusBadRequest {
			msg += `; send {"key": "aps_…", "scope": "model:deploy"}`
		}
		h.fail(w, r, start, bad.status, "", msg)
		return
	}
	key, problem := requestKey(req.Key, r.Header.Get("Authorization"))
	if problem != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="apiscopes"`)
		h.fail(w, r, start, http.StatusUnauthorized, "", problem)
		return
	}
	if req.Scope == "" {
		h.fail(w, r, start, http.StatusBadRequest, "", `no scope: add "scope", one of `+strings.Join(scopes.IDs(), ", "))
		return
	}
	d := h.st.Verify(key, scopes.ID(req.Scope), req.Client)
	if d.Reason == store.UnknownScope {
		h.fail(w, r, start, http.StatusBadRequest, store.UnknownScope, unknownScope(req.Scope))
		return
	}
	status := http.StatusOK
	switch {
	case d.Reason.Failed():
		status = http.StatusServiceUnavailable
	case !d.Allowed:
		status = http.StatusForbidden
	}
	writeJSON(w, status, NewResponse(d))
	took := time.Since(start)
	h.metrics.verified(string(d.Reason), took)
	attrs := []any{"status", status, "reason", d.Reason, "scope", d.Scope, "remote", r.RemoteAddr,
		"took", took.Round(time.Microsecond)}
	if req.Client.IsValid() {
		attrs = append(attrs, "client", req.Client.String())
	}
	if d.Found() {
		attrs = append(attrs, "app", store.SafeText(d.App().Name), "key", store.SafeText(d.Key().Hint))
	}
	if d.Allowed {
		h.log.Debug("verify", attrs...)
	} else {
		h.refusal(r, "verify", r.RemoteAddr, attrs...)
	}
}

// requestKey picks the key from the body or the Authorization header, or
// says what is wrong with how it was sent.
func requestKey(body, auth string) (string, string) {
	header := ""
	if auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", "the Authorization header must be \"Bearer <API key>\""
		}
		header = strings.TrimSpace(token)
	}
	switch {
	case body != "" && header != "" && body != header:
		return "", "two different keys: one in the body and one in the Authorization header; send one"
	case body != "":
		return body, ""
	case header != "":
		return header, ""
	}
	return "", `no API key: send it as "key" in the body or as "Authorization: Bearer <API key>"`
}

// fail answers a request the API could not decide on, and logs it.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, start time.Time, status int, reason store.Reason, msg string) {
	writeJSON(w, status, errorBody{Reason: reason, Error: msg})
	took := time.Since(start)
	h.metrics.verified(outcome(status, reason), took)
	h.refusal(r, "verify", r.RemoteAddr, "status", status, "error", msg, "remote", r.RemoteAddr, "took", took.Round(time.Microsecond))
}

// outcome is the metrics' reason for a request the store did not decide.
func outcome(status int, reason store.Reason) string {
	switch {
	case reason != "":
		return string(reason)
	case status == http.StatusUnauthorized:
		return outcomeNoKey
	case status == http.StatusRequestEntityTooLarge:
		return outcomeTooLarge
	case status >= 500:
		return outcomeError
	}
	return outcomeBadRequest
}

// refusal logs a refused request at Info as msg, if the log's bounds for
// source (a client's address) let it through (see lograte); a line after
// some were left out says how many.
func (h *handler) refusal(r *http.Request, msg, source string, attrs ...any) {
	if !h.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	ok, leftOut := h.limit.Allow(lograte.Source(source))
	if !ok {
		return
	}
	if leftOut > 0 {
		attrs = append(attrs, "not_logged_before", leftOut)
	}
	h.log.Info(msg, attrs...)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<API key>" reads better than "\u003cAPI key\u003e"; the type is JSON, not HTML
	if err := enc.Encode(body); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"allowed":false,"error":"could not write the answer"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(store.SafeJSON(b.Bytes())) // stored names may hold C1 or bidi controls, which encoding/json writes raw
}
