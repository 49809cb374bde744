// Package authz is Envoy's external authorization over gRPC
// (envoy.service.auth.v3.Authorization/Check, `serve --grpc`), for Envoy and
// Istio: the same decisions as /v1/auth, the scope from the route's
// context_extensions["apiscopes_scope"] or the routes file. It builds on
// the store and server/api's metrics, never on the console or SSH.
package authz

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"

	"apiscopes/scopes"
	"apiscopes/server/api"
	"apiscopes/server/forwardauth"
	"apiscopes/server/lograte"
	"apiscopes/server/routes"
	"apiscopes/store"
)

// ScopeExtension is the context_extensions key a route sets to name the
// scope its requests need; it wins over the routes file.
const ScopeExtension = "apiscopes_scope"

// checker answers Check.
type checker struct {
	authv3.UnimplementedAuthorizationServer
	st       *store.Store
	routes   *routes.Table
	keys     forwardauth.Keys
	keepKeys bool
	log      *slog.Logger
	limit    *lograte.Limiter
	metrics  *api.Metrics
}

// Check decides one request as /v1/auth does, and answers as Envoy
// expects: OK with the app, its name and the key's hint set on the request
// upstream (over any a client sent, with every other X-Apiscopes-* header
// and, unless KeepKeyHeaders, the key's headers removed); otherwise
// UNAUTHENTICATED (401), PERMISSION_DENIED (403), INVALID_ARGUMENT (400),
// INTERNAL (500, no way to find the scope) or UNAVAILABLE (503), each with
// the HTTP answer Envoy sends the client. It never returns an error of its
// own: Envoy would apply its failure mode to it.
func (c *checker) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	attrs := req.GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	values := headerValues(hr)

	var (
		outcome forwardauth.Outcome
		detail  string
		d       store.Decision
		line    int
	)
	key, err := c.keys.Find(values)
	switch err {
	case forwardauth.ErrTwoKeys:
		outcome, detail = forwardauth.BadRequest, err.Error()
	case forwardauth.ErrNoKey:
		outcome, detail = forwardauth.NoKey, err.Error()
	default:
		var scope scopes.ID
		scope, line, outcome, detail = c.scope(attrs.GetContextExtensions(), hr)
		if outcome == forwardauth.Allow {
			d = c.st.Verify(key, scope, sourceAddr(attrs))
			outcome = forwardauth.Classify(d)
		}
	}
	if outcome != forwardauth.Allow && detail == "" {
		detail = store.SafeText(d.String())
	}
	resp := c.answer(outcome, detail, d, hr)
	c.record(ctx, start, outcome, d, line, attrs, resp)
	return resp, nil
}

// record counts the check in the metrics and logs it: an allow at Debug,
// a refusal at Info within the log's bounds.
func (c *checker) record(ctx context.Context, start time.Time, outcome forwardauth.Outcome, d store.Decision, line int,
	attrs *authv3.AttributeContext, resp *authv3.CheckResponse) {
	took := time.Since(start)
	reason := outcome.Code()
	switch {
	case d.Reason != "":
		reason = string(d.Reason)
	case outcome == forwardauth.BadRequest:
		reason = "bad_request"
	}
	c.metrics.Checked(reason, took)
	level := slog.LevelInfo
	if outcome == forwardauth.Allow {
		level = slog.LevelDebug
	}
	if !c.log.Enabled(ctx, level) {
		return
	}
	client := ""
	if a := sourceAddr(attrs); a.IsValid() {
		client = a.String()
	}
	var leftOut uint64
	if outcome != forwardauth.Allow {
		var ok bool
		if ok, leftOut = c.limit.Allow(client); !ok {
			return
		}
	}
	logAttrs := []any{"code", code.Code(resp.GetStatus().GetCode()).String(), "reason", reason}
	if scopes.Known(d.Scope) {
		logAttrs = append(logAttrs, "scope", d.Scope)
	}
	if line > 0 {
		logAttrs = append(logAttrs, "route_line", line)
	}
	if client != "" {
		logAttrs = append(logAttrs, "client", client)
	}
	logAttrs = append(logAttrs, "took", took.Round(time.Microsecond))
	if d.Found() {
		logAttrs = append(logAttrs, "app", store.SafeText(d.App().Name), "key", store.SafeText(d.Key().Hint))
	}
	if leftOut > 0 {
		logAttrs = append(logAttrs, "not_logged_before", leftOut)
	}
	c.log.Log(ctx, level, "check", logAttrs...)
}

// scope finds the scope the request needs: the route's context extension,
// else the routes file and the request's method and path.
func (c *checker) scope(ext map[string]string, hr *authv3.AttributeContext_HttpRequest) (scopes.ID, int, forwardauth.Outcome, string) {
	if s, ok := ext[ScopeExtension]; ok {
		id, err := scopes.Parse(s)
		if err != nil {
			return "", 0, forwardauth.NoScope, "the route's apiscopes_scope is not one of this server's scope ids; fix Envoy's configuration"
		}
		return id, 0, forwardauth.Allow, ""
	}
	if c.routes == nil {
		return "", 0, forwardauth.NoScope, "no scope: the route sets no apiscopes_scope and this server has no --routes file"
	}
	p, err := routes.Clean(hr.GetPath())
	if err != nil {
		return "", 0, forwardauth.BadRequest, "the request's " + err.Error() + "; refused rather than guessed"
	}
	r, ok := c.routes.Match(hr.GetMethod(), p)
	if !ok {
		return "", 0, forwardauth.NoRoute, "no route of this server's routes file matches the request's method and path"
	}
	return r.Scope, r.Line, forwardauth.Allow, ""
}

// headerValues reads the request's headers by name, from header_map when
// Envoy sends it (encode_raw_headers) and from the lower-case map otherwise.
func headerValues(hr *authv3.AttributeContext_HttpRequest) func(string) []string {
	return func(name string) []string {
		name = strings.ToLower(name)
		if hm := hr.GetHeaderMap(); hm != nil {
			var out []string
			for _, h := range hm.GetHeaders() {
				if strings.ToLower(h.GetKey()) == name {
					v := h.GetValue()
					if raw := h.GetRawValue(); raw != nil {
						v = string(raw)
					}
					out = append(out, v)
				}
			}
			return out
		}
		if v, ok := hr.GetHeaders()[name]; ok {
			return []string{v}
		}
		return nil
	}
}

// sourceAddr is the address of the client whose request Envoy asks about
// (attributes.source.address), the zero Addr when it names none: a key
// limited to addresses is then refused (address_unknown).
func sourceAddr(attrs *authv3.AttributeContext) netip.Addr {
	if sa := attrs.GetSource().GetAddress().GetSocketAddress(); sa != nil {
		if a, ok := forwardauth.AddrOf(sa.GetAddress()); ok && a.Zone() == "" {
			return a
		}
	}
	return netip.Addr{}
}

// grpcCode is the status of an outcome.
func grpcCode(o forwardauth.Outcome) code.Code {
	switch o {
	case forwardauth.Allow:
		return code.Code_OK
	case forwardauth.NoKey, forwardauth.InvalidToken:
		return code.Code_UNAUTHENTICATED
	case forwardauth.InsufficientScope, forwardauth.NoRoute, forwardauth.Forbidden:
		return code.Code_PERMISSION_DENIED
	case forwardauth.BadRequest:
		return code.Code_INVALID_ARGUMENT
	case forwardauth.NoScope:
		return code.Code_INTERNAL
	}
	return code.Code_UNAVAILABLE
}

// httpStatus is the HTTP status Envoy sends the client for an outcome.
func httpStatus(o forwardauth.Outcome) typev3.StatusCode {
	switch o {
	case forwardauth.NoKey, forwardauth.InvalidToken:
		return typev3.StatusCode_Unauthorized
	case forwardauth.InsufficientScope, forwardauth.NoRoute, forwardauth.Forbidden:
		return typev3.StatusCode_Forbidden
	case forwardauth.BadRequest:
		return typev3.StatusCode_BadRequest
	case forwardauth.NoScope:
		return typev3.StatusCode_InternalServerError
	}
	return typev3.StatusCode_ServiceUnavailable
}

func header(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
}

// answer is the CheckResponse for an outcome.
func (c *checker) answer(o forwardauth.Outcome, detail string, d store.Decision, hr *authv3.AttributeContext_HttpRequest) *authv3.CheckResponse {
	resp := &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(grpcCode(o))}}
	if o == forwardauth.Allow {
		ok := &authv3.OkHttpResponse{}
		set := map[string]bool{}
		for _, kv := range forwardauth.Upstream(d) {
			ok.Headers = append(ok.Headers, header(kv[0], kv[1]))
			set[strings.ToLower(kv[0])] = true
		}
		for _, name := range c.removed(hr) {
			if !set[name] {
				ok.HeadersToRemove = append(ok.HeadersToRemove, name)
			}
		}
		resp.HttpResponse = &authv3.CheckResponse_OkResponse{OkResponse: ok}
		return resp
	}
	resp.Status.Message = o.Code()
	denied := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: httpStatus(o)}}
	_, headers, body := forwardauth.Problem(o, d, detail)
	for _, kv := range headers {
		denied.Headers = append(denied.Headers, header(kv[0], kv[1]))
	}
	denied.Body = body
	resp.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied}
	return resp
}

// removed is the headers an allowed request loses on its way upstream:
// every X-Apiscopes-* header the client sent, and the key's headers unless
// they are kept.
func (c *checker) removed(hr *authv3.AttributeContext_HttpRequest) []string {
	var names []string
	add := func(name, value string) {
		name = strings.ToLower(name)
		bearer := len(value) > 7 && strings.EqualFold(value[:7], "bearer ")
		if strings.HasPrefix(name, "x-apiscopes-") || !c.keepKeys && (name == "authorization" && bearer || name == strings.ToLower(c.keyHeader())) {
			names = append(names, name)
		}
	}
	if hm := hr.GetHeaderMap(); hm != nil {
		for _, h := range hm.GetHeaders() {
			v := h.GetValue()
			if raw := h.GetRawValue(); raw != nil {
				v = string(raw)
			}
			add(h.GetKey(), strings.TrimSpace(v))
		}
	} else {
		for name, v := range hr.GetHeaders() {
			add(name, strings.TrimSpace(v))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func (c *checker) keyHeader() string {
	if c.keys.Header == "" {
		return forwardauth.DefaultKeyHeader
	}
	return c.keys.Header
}
