// Package forwardauth is what the gateways' checks share, whichever way
// they arrive — /v1/auth for nginx, Caddy and Traefik (server/api), Envoy's
// ext_authz Check (server/authz): where a request's key is read from, what a
// decision becomes, the headers an allowed request carries upstream, and
// which addresses are trusted proxies.
package forwardauth

import (
	"errors"
	"strings"
)

// Outcome is what a gateway does with a request: pass it upstream or refuse
// it, and how (the HTTP status and RFC 6750 error each transport maps it to).
type Outcome int

const (
	Allow             Outcome = iota // 200 / OK
	NoKey                            // 401, no error code: no key was sent
	InvalidToken                     // 401 invalid_token: malformed, unknown, expired or deleted
	InsufficientScope                // 403 insufficient_scope: the key's app lacks the scope
	NoRoute                          // 403 no_route: no route matches the request
	BadRequest                       // 400 invalid_request: two keys, an ambiguous path, a repeated header
	NoScope                          // 500 no_scope: nothing says which scope the request needs
	Unavailable                      // 503 unavailable: the store cannot confirm it is current (or upgrade_required)
	Forbidden                        // 403 address_not_allowed, address_unknown: the key is limited to other addresses
)

// Code is the outcome's name in answers, logs and metrics.
func (o Outcome) Code() string {
	switch o {
	case Allow:
		return "allowed"
	case NoKey:
		return "no_key"
	case InvalidToken:
		return "invalid_token"
	case InsufficientScope:
		return "insufficient_scope"
	case NoRoute:
		return "no_route"
	case BadRequest:
		return "invalid_request"
	case NoScope:
		return "no_scope"
	case Forbidden:
		return "forbidden"
	}
	return "unavailable"
}

// Headers an allowed request carries upstream. A gateway overwrites any a
// client sent with these (or removes them when the check sets none).
const (
	HeaderAppID = "X-Apiscopes-App-Id"
	HeaderApp   = "X-Apiscopes-App" // percent-encoded: a name may hold any printable character
	HeaderKey   = "X-Apiscopes-Key" // the key's hint, percent-encoded ("aps_%E2%80%A6H2Hc")
	HeaderScope = "X-Apiscopes-Scope"
)

// Key headers.
const (
	Authorization    = "Authorization"
	DefaultKeyHeader = "X-API-Key"
)

// Errors reading the key.
var (
	ErrNoKey   = errors.New(`no API key: send "Authorization: Bearer <API key>" or the key header`)
	ErrTwoKeys = errors.New("more than one API key: send the key once, as a bearer token or in the key header")
)

// Keys says where a request's key is: "Authorization: Bearer …" or one
// other header (X-API-Key unless --auth-key-header names another).
type Keys struct{ Header string }

// Find reads the key. values returns a header's values by its name (as
// http.Header.Values does; Envoy's lower-case map works too). A key sent both
// ways, or a header sent twice, is ErrTwoKeys; none is ErrNoKey. An
// Authorization header of another scheme (Basic, say) is not a key. The key
// is returned as sent, for the store to judge: a bearer token that is not a
// key is refused as malformed.
func (k Keys) Find(values func(name string) []string) (string, error) {
	name := k.Header
	if name == "" {
		name = DefaultKeyHeader
	}
	var found []string
	for _, auth := range values(Authorization) {
		scheme, token, _ := strings.Cut(strings.TrimSpace(auth), " ")
		if strings.EqualFold(scheme, "Bearer") {
			found = append(found, strings.TrimSpace(token))
		}
	}
	if !strings.EqualFold(name, Authorization) {
		for _, v := range values(name) {
			found = append(found, strings.TrimSpace(v))
		}
	}
	switch len(found) {
	case 0:
		return "", ErrNoKey
	case 1:
		return found[0], nil
	}
	return "", ErrTwoKeys
}

// Escape percent-encodes s for a header value: every byte but letters,
// digits and "-._~" as %XX, so any name reads back exactly with any
// percent-decoder (url.PathUnescape, decodeURIComponent).
func Escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
