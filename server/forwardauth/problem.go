package forwardauth

import (
	"bytes"
	"encoding/json"
	"net/http"

	"apiscopes/scopes"
	"apiscopes/store"
)

// HTTPStatus is the HTTP status of an outcome.
func HTTPStatus(o Outcome) int {
	switch o {
	case Allow:
		return http.StatusOK
	case NoKey, InvalidToken:
		return http.StatusUnauthorized
	case InsufficientScope, NoRoute, Forbidden:
		return http.StatusForbidden
	case BadRequest:
		return http.StatusBadRequest
	case NoScope:
		return http.StatusInternalServerError
	}
	return http.StatusServiceUnavailable
}

// problemBody is an RFC 9457 problem details body, with the reason a script
// matches on.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Reason string `json:"reason"`
	Scope  string `json:"scope,omitempty"` // validated: the only request value an answer repeats
}

// Problem is a refusal as HTTP, for /v1/auth, for the answer Envoy sends on
// Check's behalf and for the verifier middleware: its status; its headers,
// the RFC 6750 challenge (error="invalid_token", "insufficient_scope" with
// the scope, "invalid_request") or Retry-After, and the body's type; and an
// RFC 9457 problem details body with the reason a script matches on (the
// store's, or no_key, no_route, no_scope, invalid_request, unavailable) and
// detail, one line for a person that must hold no request value.
func Problem(o Outcome, d store.Decision, detail string) (status int, headers [][2]string, body string) {
	status = HTTPStatus(o)
	scope := ""
	if o == InsufficientScope && scopes.Known(d.Scope) {
		scope = string(d.Scope)
	}
	switch o {
	case NoKey:
		headers = append(headers, [2]string{"WWW-Authenticate", `Bearer realm="apiscopes"`})
	case InvalidToken:
		headers = append(headers, [2]string{"WWW-Authenticate", `Bearer realm="apiscopes", error="invalid_token"`})
	case InsufficientScope:
		headers = append(headers, [2]string{"WWW-Authenticate", `Bearer realm="apiscopes", error="insufficient_scope", scope="` + scope + `"`})
	case BadRequest:
		headers = append(headers, [2]string{"WWW-Authenticate", `Bearer realm="apiscopes", error="invalid_request"`})
	case Unavailable:
		headers = append(headers, [2]string{"Retry-After", "1"})
	}
	headers = append(headers, [2]string{"Content-Type", "application/problem+json"}, [2]string{"Cache-Control", "no-store"})
	reason := o.Code()
	if d.Reason != "" && o != NoScope {
		reason = string(d.Reason)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(problemBody{Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: detail, Reason: reason, Scope: scope})
	return status, headers, string(store.SafeJSON(b.Bytes()))
}
