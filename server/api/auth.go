package api

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/forwardauth"
	"apiscopes/server/routes"
	"apiscopes/store"
)

// AuthPath is the forward-auth endpoint: nginx's auth_request, Caddy's
// forward_auth and Traefik's ForwardAuth call it, and Envoy's HTTP ext_authz
// with path_prefix set to it (the original path follows it).
const AuthPath = "/v1/auth"

// The headers that carry the original request, by convention: Traefik's and
// Caddy's, and the ones docs/gateways.md's nginx configuration sets.
var originals = [][2]string{
	{"X-Forwarded-Method", "X-Forwarded-Uri"},
	{"X-Original-Method", "X-Original-Uri"},
}

// authCheck is one /v1/auth request as decided so far.
type authCheck struct {
	outcome forwardauth.Outcome
	detail  string         // one line for a person; never a request value
	d       store.Decision // when the store decided
	route   int            // the line of the route that gave the scope, if one did
	client  netip.Addr     // as a trusted proxy named it; invalid: unknown
}

// auth answers forward-auth: 200 and the app, its name and the key's hint
// as headers for the upstream when the key's app has the scope the request
// needs; otherwise 401 or 403 as RFC 6750 says, 400 for a request it
// cannot read one way only, 500 when nothing says which scope is needed,
// 503 when the store cannot confirm it is current. Bodies of refusals are
// RFC 9457 problem details. It never echoes a request value.
func (h *handler) auth(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := &authCheck{}
	peer, _ := forwardauth.AddrOf(r.RemoteAddr)
	c.client, _ = h.proxies.Client(peer, r.Header.Values("X-Forwarded-For"), r.Header.Values("X-Real-Ip"))
	h.decideAuth(c, r, h.proxies.Contains(peer))
	h.answerAuth(w, c)

	took := time.Since(start)
	reason := c.outcome.Code()
	switch {
	case c.d.Reason != "":
		reason = string(c.d.Reason)
	case c.outcome == forwardauth.BadRequest:
		reason = outcomeBadRequest
	case c.outcome == forwardauth.NoScope:
		reason = outcomeNoScope
	}
	h.metrics.verified(reason, took)
	level := slog.LevelInfo
	if c.outcome == forwardauth.Allow {
		level = slog.LevelDebug
	}
	if !h.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []any{"status", forwardauth.HTTPStatus(c.outcome), "reason", reason}
	if c.d.Scope != "" && scopes.Known(c.d.Scope) {
		attrs = append(attrs, "scope", c.d.Scope)
	}
	if c.route > 0 {
		attrs = append(attrs, "route_line", c.route)
	}
	if c.client.IsValid() {
		attrs = append(attrs, "client", c.client.String())
	}
	attrs = append(attrs, "remote", r.RemoteAddr, "took", took.Round(time.Microsecond))
	if c.d.Found() {
		attrs = append(attrs, "app", store.SafeText(c.d.App().Name), "key", store.SafeText(c.d.Key().Hint))
	}
	if c.outcome == forwardauth.Allow {
		h.log.Debug("auth", attrs...)
		return
	}
	source := r.RemoteAddr
	if c.client.IsValid() {
		source = c.client.String()
	}
	h.refusal(r, "auth", source, attrs...)
}

// decideAuth finds the key and the scope, and asks the store.
func (h *handler) decideAuth(c *authCheck, r *http.Request, trusted bool) {
	key, err := h.keys.Find(r.Header.Values)
	switch err {
	case forwardauth.ErrTwoKeys:
		c.outcome, c.detail = forwardauth.BadRequest, err.Error()
		return
	case forwardauth.ErrNoKey:
		c.outcome, c.detail = forwardauth.NoKey, err.Error()
		return
	}
	scope, ok := h.authScope(c, r, trusted)
	if !ok {
		return
	}
	c.d = h.st.Verify(key, scope, c.client) // the address a trusted proxy named; none: unknown
	c.outcome = forwardauth.Classify(c.d)
	if c.outcome != forwardauth.Allow {
		c.detail = store.SafeText(c.d.String())
	}
	if c.outcome == forwardauth.NoScope { // a scope id the routes or the gateway gave, and the store refused
		c.detail = "the scope this request needs is not one of this server's scope ids"
	}
}

// authScope finds the scope the original request needs: from
// X-Apiscopes-Scope when --scope-header is on and a trusted proxy sent it,
// else from the routes file and the original request's method and path.
func (h *handler) authScope(c *authCheck, r *http.Request, trusted bool) (scopes.ID, bool) {
	fail := func(o forwardauth.Outcome, detail string) (scopes.ID, bool) {
		c.outcome, c.detail = o, detail
		return "", false
	}
	if given := r.Header.Values(forwardauth.HeaderScope); h.scopeHeader && trusted && len(given) > 0 {
		if len(given) > 1 || strings.Contains(given[0], ",") {
			return fail(forwardauth.BadRequest, "X-Apiscopes-Scope was sent more than once; the gateway must set it once, over the client's")
		}
		id, err := scopes.Parse(given[0])
		if err != nil {
			return fail(forwardauth.NoScope, "the gateway's X-Apiscopes-Scope is not one of this server's scope ids; fix the gateway's configuration")
		}
		return id, true
	}
	method, target, found, problem := original(r)
	switch {
	case problem != "":
		return fail(forwardauth.BadRequest, problem)
	case !found:
		return fail(forwardauth.NoScope, "no scope: this request says neither the original method and path (X-Forwarded-Method and X-Forwarded-Uri, "+
			"or X-Original-Method and X-Original-URI) nor, from a trusted gateway with --scope-header, X-Apiscopes-Scope")
	case h.routes == nil:
		return fail(forwardauth.NoScope, "no scope: this server has no --routes file to find the scope a path needs")
	}
	p, err := routes.Clean(target)
	if err != nil {
		return fail(forwardauth.BadRequest, "the original request's "+err.Error()+"; refused rather than guessed")
	}
	route, ok := h.routes.Match(method, p)
	if !ok {
		return fail(forwardauth.NoRoute, "no route of this server's routes file matches the original request's method and path")
	}
	c.route = route.Line
	return route.Scope, true
}

// original is the original request's method and target, by whichever one
// convention the gateway used: a pair of headers, or (Envoy's HTTP
// ext_authz) the method of this request and the path after AuthPath. Two
// conventions at once, a header sent twice, or half a pair is a problem:
// the client could have added one.
func original(r *http.Request) (method, target string, found bool, problem string) {
	n := 0
	if rest := strings.TrimPrefix(r.URL.EscapedPath(), AuthPath); rest != "" {
		method, target, n = r.Method, rest, 1
	}
	for _, names := range originals {
		m, u := r.Header.Values(names[0]), r.Header.Values(names[1])
		if len(m) == 0 && len(u) == 0 {
			continue
		}
		if n++; len(m) != 1 || len(u) != 1 {
			return "", "", false, fmt.Sprintf("the original request must be given by %s and %s, each once", names[0], names[1])
		}
		method, target = m[0], u[0]
	}
	switch {
	case n > 1:
		return "", "", false, "the original request is given more than one way (X-Forwarded-Uri, X-Original-URI, a path after /v1/auth); " +
			"the gateway must remove the ones it does not set"
	case n == 0:
		return "", "", false, ""
	case !methodToken(method):
		return "", "", false, "the original request's method is not an HTTP method"
	}
	return method, target, true, ""
}

func methodToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// answerAuth writes the answer: headers for the upstream when allowed, the
// refusal as Problem describes it when not.
func (h *handler) answerAuth(w http.ResponseWriter, c *authCheck) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	if c.outcome == forwardauth.Allow {
		for _, kv := range forwardauth.Upstream(c.d) {
			hd.Set(kv[0], kv[1])
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	status, headers, body := forwardauth.Problem(c.outcome, c.d, c.detail)
	for _, kv := range headers {
		hd.Set(kv[0], kv[1])
	}
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
