// Package verifier is a Go middleware for services that check API keys with
// apiscopes themselves, rather than behind a gateway:
//
//	v := verifier.New("https://apiscopes:8080", verifier.WithRootCAs(pool))
//	mux.Handle("POST /models", v.Require("model:deploy", deployModel))
//
// Each request is checked with POST /v1/verify on the server, over pooled
// connections, with the key read from the same headers /v1/auth reads
// ("Authorization: Bearer …" or X-API-Key). An allow is never cached: a key
// deleted or a scope removed in the console refuses the very next request.
// Any error — the server out of reach, slow past the timeout, an answer it
// cannot read — refuses the request (503): it fails closed.
package verifier

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/forwardauth"
	"apiscopes/store"
)

// DefaultTimeout bounds one check, connection included.
const DefaultTimeout = 2 * time.Second

// maxAnswerBytes bounds the verify answer read: a few hundred bytes.
const maxAnswerBytes = 64 << 10

// ErrBadURL is a base URL the verifier cannot call: every request it
// guards is refused until it is fixed.
var ErrBadURL = errors.New("the apiscopes URL must be http:// or https://, a host and no query")

// Verifier checks keys with one apiscopes server. Safe for concurrent use.
type Verifier struct {
	verifyURL string
	err       error
	client    *http.Client
	keys      forwardauth.Keys
	timeout   time.Duration
	log       *slog.Logger
	rootCAs   *x509.CertPool
	clientIP  func(*http.Request) netip.Addr
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithRootCAs trusts pool, instead of the system's roots, for an https://
// server: the CA that signed apiscopes's --http-tls-cert.
func WithRootCAs(pool *x509.CertPool) Option { return func(v *Verifier) { v.rootCAs = pool } }

// WithTimeout bounds each check (DefaultTimeout otherwise).
func WithTimeout(d time.Duration) Option { return func(v *Verifier) { v.timeout = d } }

// WithKeyHeader reads the key from name instead of X-API-Key, beside
// "Authorization: Bearer …" (as serve's --auth-key-header).
func WithKeyHeader(name string) Option { return func(v *Verifier) { v.keys.Header = name } }

// WithHTTPClient calls the server with c instead of the verifier's own
// pooled client (WithRootCAs then does nothing).
func WithHTTPClient(c *http.Client) Option { return func(v *Verifier) { v.client = c } }

// WithClientIP says where a request comes from, for keys limited to
// addresses: by default the address of the connection (RemoteAddr). Behind
// a proxy, give the client's address as the proxy names it, for requests
// from the proxy alone; the zero Addr is an unknown address, which such a
// key is refused from.
func WithClientIP(f func(*http.Request) netip.Addr) Option {
	return func(v *Verifier) { v.clientIP = f }
}

// RemoteIP is the address of the connection a request came on: the
// default WithClientIP.
func RemoteIP(r *http.Request) netip.Addr {
	a, _ := forwardauth.AddrOf(r.RemoteAddr)
	return a
}

// WithLogger logs why requests were refused for an error (never a key).
func WithLogger(l *slog.Logger) Option { return func(v *Verifier) { v.log = l } }

// New returns a verifier for the server at baseURL ("https://apiscopes:8080").
// A URL it cannot use does not stop the program: Err says why, and every
// request the verifier guards is refused.
func New(baseURL string, opts ...Option) *Verifier {
	v := &Verifier{timeout: DefaultTimeout, log: slog.New(slog.DiscardHandler), clientIP: RemoteIP}
	for _, o := range opts {
		o(v)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		v.err = ErrBadURL
	} else {
		v.verifyURL = strings.TrimSuffix(u.String(), "/") + "/v1/verify"
	}
	if v.client == nil {
		v.client = &http.Client{Transport: &http.Transport{
			Proxy:               nil, // the verify API is never reached through a proxy that would see keys
			TLSClientConfig:     &tls.Config{RootCAs: v.rootCAs, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     10 * time.Second, // under the server's 15 s, so the client closes first
			TLSHandshakeTimeout: v.timeout,
		}}
	}
	// A redirect would send the key elsewhere.
	client := *v.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	v.client = &client
	return v
}

// Err is why the verifier refuses everything, or nil.
func (v *Verifier) Err() error { return v.err }

// Caller is who an allowed request came from, as the verifier found it.
type Caller struct {
	AppID   uint64
	App     string
	KeyHint string // aps_…XXXX
	Scope   scopes.ID
}

type callerKey struct{}

// FromContext is the caller of an allowed request, inside the handler
// Require guards.
func FromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Require guards next: a request reaches it only when its key's app has
// scope at that moment, with its Caller in the context and the key's
// headers removed. Otherwise the client gets 401 or 403 as RFC 6750 says,
// 400 for two keys, or 503 when the check could not be made, each with an
// RFC 9457 body. A scope id that is not one of apiscopes's panics: it is a
// mistake in the program, found at start.
func (v *Verifier) Require(scope string, next http.Handler) http.Handler {
	id, err := scopes.Parse(scope)
	if err != nil {
		panic(fmt.Sprintf("verifier.Require: %v", err))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, err := v.keys.Find(r.Header.Values)
		switch err {
		case forwardauth.ErrNoKey:
			refuse(w, forwardauth.NoKey, store.Decision{}, err.Error())
			return
		case forwardauth.ErrTwoKeys:
			refuse(w, forwardauth.BadRequest, store.Decision{}, err.Error())
			return
		}
		c, d, err := v.CheckFrom(r.Context(), key, id, v.clientIP(r))
		if err != nil {
			v.log.Warn("apiscopes check failed: refused", "err", err)
			refuse(w, forwardauth.Unavailable, store.Decision{}, "the key could not be checked; try again")
			return
		}
		if o := forwardauth.Classify(d); o != forwardauth.Allow {
			refuse(w, o, d, "")
			return
		}
		r = r.Clone(context.WithValue(r.Context(), callerKey{}, c))
		r.Header.Del(forwardauth.Authorization)
		r.Header.Del(v.keyHeader())
		next.ServeHTTP(w, r)
	})
}

func (v *Verifier) keyHeader() string {
	if v.keys.Header == "" {
		return forwardauth.DefaultKeyHeader
	}
	return v.keys.Header
}

func refuse(w http.ResponseWriter, o forwardauth.Outcome, d store.Decision, detail string) {
	status, headers, body := forwardauth.Problem(o, d, detail)
	for _, kv := range headers {
		w.Header().Set(kv[0], kv[1])
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// answer is what the verifier reads of /v1/verify's answer.
type answer struct {
	Allowed bool         `json:"allowed"`
	Reason  store.Reason `json:"reason"`
	App     *struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	} `json:"app"`
	Key *struct {
		Hint string `json:"hint"`
	} `json:"key"`
}

// Check asks the server whether key may use scope now. A refusal is a
// Decision (its Reason says why); an error is a check that could not be
// made, which a caller must treat as a refusal. Nothing is cached.
func (v *Verifier) Check(ctx context.Context, key string, scope scopes.ID) (Caller, store.Decision, error) {
	return v.CheckFrom(ctx, key, scope, netip.Addr{})
}

// CheckFrom is Check for a key used from client (the zero Addr: unknown),
// sent as "client_ip": a key limited to addresses is refused from any
// other.
func (v *Verifier) CheckFrom(ctx context.Context, key string, scope scopes.ID, client netip.Addr) (Caller, store.Decision, error) {
	d := store.Decision{Scope: scope}
	if v.err != nil {
		return Caller{}, d, v.err
	}
	fields := map[string]string{"scope": string(scope)}
	if client.IsValid() {
		fields["client_ip"] = client.Unmap().WithZone("").String()
	}
	body, _ := json.Marshal(fields)
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.verifyURL, bytes.NewReader(body))
	if err != nil {
		return Caller{}, d, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return Caller{}, d, fmt.Errorf("apiscopes: %w", redactedErr(err, key))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return Caller{}, d, fmt.Errorf("apiscopes: reading the answer: %w", redactedErr(err, key))
	}
	var a answer
	switch resp.StatusCode {
	case http.StatusOK, http.StatusForbidden:
		if err := json.Unmarshal(raw, &a); err != nil || a.Reason == "" {
			return Caller{}, d, fmt.Errorf("apiscopes answered %d with a body that is not a decision", resp.StatusCode)
		}
	case http.StatusUnauthorized: // the key is malformed as far as the server can tell
		d.Reason = store.Malformed
		return Caller{}, d, nil
	default:
		return Caller{}, d, fmt.Errorf("apiscopes answered %d", resp.StatusCode)
	}
	d.Reason = a.Reason
	allowed := resp.StatusCode == http.StatusOK && a.Allowed && a.Reason == store.Allowed && a.App != nil && a.Key != nil
	if resp.StatusCode == http.StatusOK && !allowed {
		return Caller{}, d, errors.New("apiscopes answered 200 without an allow")
	}
	if !allowed {
		if a.Allowed || a.Reason == store.Allowed {
			return Caller{}, d, errors.New("apiscopes answered 403 with an allow")
		}
		return Caller{}, d, nil
	}
	d.Allowed = true
	return Caller{AppID: a.App.ID, App: a.App.Name, KeyHint: a.Key.Hint, Scope: scope}, d, nil
}

// redactedErr is err with the key's text taken out, should a transport
// ever quote it.
func redactedErr(err error, key string) error {
	if key != "" && strings.Contains(err.Error(), key) {
		return errors.New(strings.ReplaceAll(err.Error(), key, "aps_…"))
	}
	return err
}
