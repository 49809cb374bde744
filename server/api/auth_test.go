package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/forwardauth"
	"apiscopes/server/routes"
	"apiscopes/store"
)

// testRoutes guards /admin with a scope the fixture's key lacks, and
// everything else under / with one it has, so that any path trick that
// reached the weaker route would show as an allow.
const testRoutes = `- path: /admin
  scope: guardrail:deploy
- method: [GET, POST]
  path: /models
  scope: model:deploy
- method: GET
  path: /
  scope: model:export
`

func mustRoutes(t testing.TB, text string) *routes.Table {
	t.Helper()
	m, err := routes.Parse("routes.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return routes.Static(m)
}

// authServer serves the fixture's store with /v1/auth over testRoutes.
func (f *fixture) authServer(t testing.TB, opts ...Option) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]Option{WithLogLimits(0, 0), WithRoutes(mustRoutes(t, testRoutes))}, opts...)
	srv := httptest.NewServer(Handler(f.st, log, opts...))
	t.Cleanup(srv.Close)
	return srv.URL
}

// authGet sends one forward-auth request with the headers given as
// name, value pairs.
func authGet(t *testing.T, url string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return do(t, req)
}

// TestAuthAnswersAsRFC6750: each kind of refusal gets its status, its
// WWW-Authenticate challenge and an RFC 9457 body naming the reason; an
// allow gets the app and the key's hint for the upstream, percent-encoded.
func TestAuthAnswersAsRFC6750(t *testing.T) {
	f := newFixture(t)
	url := f.authServer(t) + AuthPath
	expiring, _, err := f.st.CreateKeyWith(t.Context(), admin, f.app.ID, "short", store.KeyOptions{ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	deleted, dk, _ := f.st.CreateKey(t.Context(), admin, f.app.ID, "gone")
	if err := f.st.DeleteKey(t.Context(), admin, dk.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(2 * time.Hour)
	orig := func(path string) []string { return []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", path} }
	bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
	join := func(a ...[]string) []string {
		var out []string
		for _, x := range a {
			out = append(out, x...)
		}
		return out
	}
	bad := f.key[:len(f.key)-1] + string("01"[map[bool]int{true: 1}[f.key[len(f.key)-1] == '0']])
	for _, tt := range []struct {
		name      string
		header    []string
		status    int
		challenge string // "": none
		reason    string
	}{
		{"allowed", join(bearer(f.key), orig("/models/1")), 200, "", ""},
		{"allowed with X-API-Key", join([]string{"X-API-Key", f.key}, orig("/models/1")), 200, "", ""},
		{"no key", orig("/models/1"), 401, `Bearer realm="apiscopes"`, "no_key"},
		{"basic is no key", join([]string{"Authorization", "Basic dXNlcjpwdw=="}, orig("/models/1")), 401, `Bearer realm="apiscopes"`, "no_key"},
		{"malformed", join(bearer("aps_short"), orig("/models/1")), 401, `Bearer realm="apiscopes", error="invalid_token"`, "malformed"},
		{"bad checksum", join(bearer(bad), orig("/models/1")), 401, `Bearer realm="apiscopes", error="invalid_token"`, "bad_checksum"},
		{"expired", join(bearer(expiring), orig("/models/1")), 401, `Bearer realm="apiscopes", error="invalid_token"`, "expired"},
		{"deleted", join(bearer(deleted), orig("/models/1")), 401, `Bearer realm="apiscopes", error="invalid_token"`, "unknown_key"},
		{"wrong scope", join(bearer(f.key), orig("/admin")), 403, `Bearer realm="apiscopes", error="insufficient_scope", scope="guardrail:deploy"`, "scope_not_granted"},
		{"no route", join(bearer(f.key), []string{"X-Forwarded-Method", "DELETE", "X-Forwarded-Uri", "/models/1"}), 403, "", "no_route"},
		{"two keys", join(bearer(f.key), []string{"X-API-Key", f.key}, orig("/models/1")), 400, `Bearer realm="apiscopes", error="invalid_request"`, "invalid_request"},
		{"no original request", bearer(f.key), 500, "", "no_scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := authGet(t, url, tt.header...)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if got := a.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if a.header.Get("Cache-Control") != "no-store" {
				t.Error("no Cache-Control: no-store")
			}
			if tt.status == 200 {
				if a.raw != "" || a.header.Get(forwardauth.HeaderAppID) != "1" ||
					a.header.Get(forwardauth.HeaderApp) != "Risk%20%26%20Compliance" ||
					a.header.Get(forwardauth.HeaderKey) != forwardauth.Escape("aps_…"+f.key[len(f.key)-4:]) {
					t.Errorf("allowed: headers %v, body %q", a.header, a.raw)
				}
				return
			}
			for _, h := range []string{forwardauth.HeaderAppID, forwardauth.HeaderApp, forwardauth.HeaderKey} {
				if a.header.Get(h) != "" {
					t.Errorf("a refusal carries %s", h)
				}
			}
			if a.header.Get("Content-Type") != "application/problem+json" || a.body["status"] != float64(tt.status) ||
				a.body["reason"] != tt.reason || a.body["type"] != "about:blank" || a.body["title"] != http.StatusText(tt.status) ||
				a.body["detail"] == "" {
				t.Errorf("body %s (%s), want reason %s", a.raw, a.header.Get("Content-Type"), tt.reason)
			}
		})
	}
	t.Run("another key header", func(t *testing.T) {
		url := f.authServer(t, WithKeyHeader("X-Token")) + AuthPath
		if a := authGet(t, url, join([]string{"X-Token", f.key}, orig("/models"))...); a.status != 200 {
			t.Errorf("X-Token: %d %s", a.status, a.raw)
		}
		if a := authGet(t, url, join([]string{"X-API-Key", f.key}, orig("/models"))...); a.status != 401 {
			t.Errorf("X-API-Key with --auth-key-header X-Token: %d %s", a.status, a.raw)
		}
	})
	t.Run("no routes file", func(t *testing.T) {
		srv := httptest.NewServer(Handler(f.st, nil))
		defer srv.Close()
		if a := authGet(t, srv.URL+AuthPath, join(bearer(f.key), orig("/models"))...); a.status != 500 || a.body["reason"] != "no_scope" {
			t.Errorf("%d %s", a.status, a.raw)
		}
	})
}

// TestAuthFindsTheOriginalRequest: the original method and path come from
// Traefik's and Caddy's headers, from the ones the README's nginx
// configuration sets, or from the path after /v1/auth (Envoy's HTTP
// ext_authz); two ways at once, a header sent twice or half a pair is
// refused, since a client may have added one.
func TestAuthFindsTheOriginalRequest(t *testing.T) {
	f := newFixture(t)
	base := f.authServer(t)
	key := []string{"Authorization", "Bearer " + f.key}
	for _, tt := range []struct {
		name   string
		path   string
		header []string
		status int
	}{
		{"traefik and caddy", AuthPath, []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin"}, 403},
		{"nginx", AuthPath, []string{"X-Original-Method", "GET", "X-Original-URI", "/admin"}, 403},
		{"envoy http", AuthPath + "/admin/x?y=1", nil, 403},
		{"envoy http, allowed", AuthPath + "/models/x", nil, 200},
		{"a forged second convention", AuthPath, []string{"X-Original-Method", "GET", "X-Original-URI", "/admin", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models"}, 400},
		{"a forged header beside envoy's path", AuthPath + "/admin", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models"}, 400},
		{"a repeated uri", AuthPath, []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin", "X-Forwarded-Uri", "/models"}, 400},
		{"no method", AuthPath, []string{"X-Forwarded-Uri", "/models"}, 400},
		{"a method that is not one", AuthPath, []string{"X-Forwarded-Method", "GET /models", "X-Forwarded-Uri", "/models"}, 400},
		{"a lower-case method matches no route", AuthPath, []string{"X-Forwarded-Method", "get", "X-Forwarded-Uri", "/models"}, 403},
		{"HEAD is GET's", AuthPath, []string{"X-Forwarded-Method", "HEAD", "X-Forwarded-Uri", "/models"}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if a := authGet(t, base+tt.path, append(key, tt.header...)...); a.status != tt.status {
				t.Errorf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
		})
	}
}

// TestPathTricksNeverReachAWeakerRoute: every way of writing /admin so that
// a matcher comparing text would see another path lands on /admin's route,
// or is refused; none is allowed by the weaker route for /.
func TestPathTricksNeverReachAWeakerRoute(t *testing.T) {
	f := newFixture(t)
	base := f.authServer(t)
	for _, p := range []string{
		"/admin", "/admin/", "/public/../admin", "/public/%2e%2e/admin", "/public/%2E%2E/admin", "/public/.%2e/admin",
		"//admin", "/./admin", "/%61dmin", "/admin;jsessionid=x", "/public/..;/admin", "/public%2Fadmin",
		"/public%2fadmin", "/public%5Cadmin", "/public\\admin", "/admin%00.html", "/../admin", "/admin?/public",
		"/admin#/public", "/%2e%2e/admin",
	} {
		for _, via := range [][2]string{{"X-Forwarded-Method", "X-Forwarded-Uri"}, {"X-Original-Method", "X-Original-URI"}} {
			a := authGet(t, base+AuthPath, "Authorization", "Bearer "+f.key, via[0], "GET", via[1], p)
			if a.status != 403 && a.status != 400 {
				t.Errorf("%s via %s: %d %s", p, via[1], a.status, a.raw)
			}
		}
	}
	for _, p := range []string{"/public/../admin", "/public/%2e%2e/admin", "//admin", "/admin;x", "/public%2Fadmin"} {
		if a := authGet(t, base+AuthPath+p, "Authorization", "Bearer "+f.key); a.status != 403 && a.status != 400 {
			t.Errorf("envoy http %s: %d %s", p, a.status, a.raw)
		}
	}
}

// TestScopeHeaderOnlyFromTrustedProxies: X-Apiscopes-Scope counts only with
// --scope-header and only from a trusted proxy, and only once.
func TestScopeHeaderOnlyFromTrustedProxies(t *testing.T) {
	f := newFixture(t)
	loopback, err := forwardauth.ParseProxies("127.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	key := []string{"Authorization", "Bearer " + f.key}
	trusted := f.authServer(t, WithScopeHeader(), WithTrustedProxies(loopback)) + AuthPath
	untrusted := f.authServer(t, WithScopeHeader()) + AuthPath
	off := f.authServer(t, WithTrustedProxies(loopback)) + AuthPath
	for _, tt := range []struct {
		name   string
		url    string
		header []string
		status int
	}{
		{"from a trusted proxy", trusted, []string{"X-Apiscopes-Scope", "model:export"}, 200},
		{"its scope refused", trusted, []string{"X-Apiscopes-Scope", "guardrail:deploy"}, 403},
		{"it wins over the routes", trusted, []string{"X-Apiscopes-Scope", "guardrail:deploy", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models"}, 403},
		{"sent twice", trusted, []string{"X-Apiscopes-Scope", "guardrail:deploy", "X-Apiscopes-Scope", "model:export"}, 400},
		{"a list", trusted, []string{"X-Apiscopes-Scope", "model:export, guardrail:deploy"}, 400},
		{"unknown", trusted, []string{"X-Apiscopes-Scope", "model:everything"}, 500},
		{"from anyone else: ignored", untrusted, []string{"X-Apiscopes-Scope", "model:export", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin"}, 403},
		{"from anyone else, alone: no scope", untrusted, []string{"X-Apiscopes-Scope", "model:export"}, 500},
		{"without --scope-header: ignored", off, []string{"X-Apiscopes-Scope", "model:export", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin"}, 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if a := authGet(t, tt.url, append(key, tt.header...)...); a.status != tt.status {
				t.Errorf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
		})
	}
}

// TestAuthFailsClosed: a store that cannot confirm it is current answers
// 503 unavailable with Retry-After, for a key that would be allowed.
func TestAuthFailsClosed(t *testing.T) {
	st, key, current := unconfirmedStore(t)
	srv := httptest.NewServer(Handler(st, nil, WithRoutes(mustRoutes(t, testRoutes))))
	defer srv.Close()
	a := authGet(t, srv.URL+AuthPath, "Authorization", "Bearer "+key, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models")
	if a.status != 503 || a.body["reason"] != "unavailable" || a.header.Get("Retry-After") == "" || a.header.Get(forwardauth.HeaderAppID) != "" {
		t.Fatalf("%d %v %s", a.status, a.header, a.raw)
	}
	current.Store(true)
	waitFor(t, "the store to confirm it is current", st.Ready)
	if a := authGet(t, srv.URL+AuthPath, "Authorization", "Bearer "+key, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models"); a.status != 200 {
		t.Fatalf("once current: %d %s", a.status, a.raw)
	}
}

// TestAuthCountsAsVerify: /v1/auth's checks are counted in the metrics by
// reason, noted as uses of the key and its app's scopes, and refusals are
// logged naming the client a trusted proxy named, never what it sent.
func TestAuthCountsAsVerify(t *testing.T) {
	f := newFixture(t)
	m := NewMetrics(f.st)
	loopback, _ := forwardauth.ParseProxies("127.0.0.1")
	url := f.authServer(t, WithMetrics(m), WithTrustedProxies(loopback)) + AuthPath
	metrics := httptest.NewServer(MetricsHandler(m, f.st))
	defer metrics.Close()
	key := []string{"Authorization", "Bearer " + f.key, "X-Forwarded-For", "203.0.113.9, 198.51.100.7"}
	orig := func(path string) []string { return append(key, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", path) }
	authGet(t, url, orig("/models")...)
	authGet(t, url, orig("/admin")...)
	authGet(t, url, orig("/admin")...)
	authGet(t, url, append(key, "X-Forwarded-Method", "PUT", "X-Forwarded-Uri", "/x")...)
	authGet(t, url, key...)
	authGet(t, url, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models")
	s := scrape(t, metrics.URL)
	for reason, want := range map[string]float64{"allowed": 1, "scope_not_granted": 2, "no_route": 1, "no_scope": 1, "no_key": 1} {
		if got := s[`apiscopes_verify_decisions_total{reason="`+reason+`"}`]; got != want {
			t.Errorf("%s: %v, want %v", reason, got, want)
		}
	}
	use, err := f.st.AppUsage(t.Context(), f.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(use)
	if !strings.Contains(string(b), "guardrail:deploy") || !strings.Contains(string(b), "model:deploy") {
		t.Errorf("per-scope use not noted: %s", b)
	}
	logged := f.logs.String()
	if !strings.Contains(logged, "msg=auth") || !strings.Contains(logged, "client=198.51.100.7") ||
		!strings.Contains(logged, "route_line=1") || strings.Contains(logged, "203.0.113.9") || strings.Contains(logged, f.key) {
		t.Errorf("log:\n%s", logged)
	}
}

// TestAuthNeverEchoes: a key or a marker in any header, the path, the
// original path or method, or the scope header, never comes back in the
// answer or the log.
func TestAuthNeverEchoes(t *testing.T) {
	f := newFixture(t)
	loopback, _ := forwardauth.ParseProxies("127.0.0.1")
	base := f.authServer(t, WithScopeHeader(), WithTrustedProxies(loopback))
	secret := f.key[4:47]
	const canary = "canary-7f3a"
	for _, tt := range []struct {
		name   string
		path   string
		header []string
	}{
		{"key as the original path", AuthPath, []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/" + f.key}},
		{"key in an ambiguous path", AuthPath, []string{"Authorization", "Bearer " + f.key, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/a%2F" + f.key}},
		{"key as the method", AuthPath, []string{"X-Forwarded-Method", f.key, "X-Forwarded-Uri", "/models"}},
		{"key as the scope", AuthPath, []string{"Authorization", "Bearer " + canary, "X-Apiscopes-Scope", f.key}},
		{"key twice", AuthPath, []string{"Authorization", "Bearer " + f.key, "X-API-Key", f.key + canary}},
		{"key with a tail", AuthPath, []string{"Authorization", "Bearer " + f.key + canary, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models"}},
		{"key in envoy's path", AuthPath + "/" + f.key + "/" + canary, []string{"X-API-Key", f.key}},
		{"key in the client's address", AuthPath, []string{"X-Forwarded-For", f.key, "X-Real-IP", canary}},
		{"key in a header nobody reads", AuthPath, []string{"X-Original-Scope", f.key, "Cookie", canary}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.logs.String())
			a := authGet(t, base+tt.path, tt.header...)
			logged := f.logs.String()[before:]
			for _, leak := range []string{f.key, secret, canary} {
				if strings.Contains(a.raw, leak) || strings.Contains(logged, leak) {
					t.Errorf("%q repeated: %d %s\nlog %s", leak, a.status, a.raw, logged)
				}
				for name, v := range a.header {
					if strings.Contains(strings.Join(v, " "), leak) {
						t.Errorf("header %s repeats %q", name, leak)
					}
				}
			}
		})
	}
}

// TestAuthHeadersReadBack: a stored name with any printable character,
// controls and bidi marks included, reaches the upstream as ASCII and reads
// back as stored.
func TestAuthHeadersReadBack(t *testing.T) {
	f := newFixture(t)
	name := "Ünïcode / & % + \"quotes\" ☕"
	app, err := f.st.CreateApp(t.Context(), admin, name, scopes.NewSet(scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := f.st.CreateKey(t.Context(), admin, app.ID, "k")
	a := authGet(t, f.authServer(t)+AuthPath, "X-API-Key", key, "X-Original-Method", "GET", "X-Original-URI", "/reports")
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	got, err := url.PathUnescape(a.header.Get(forwardauth.HeaderApp))
	if err != nil || got != name {
		t.Errorf("X-Apiscopes-App reads back as %q, %v", got, err)
	}
}

// TestAuthTakesTheClientAddress: /v1/auth checks a key limited to
// addresses against the client a trusted proxy names (X-Forwarded-For's
// rightmost untrusted entry, or X-Real-IP): 403 address_not_allowed from
// outside its list, address_unknown when no trusted proxy named one; what
// anyone else sends in those headers is not believed.
func TestAuthTakesTheClientAddress(t *testing.T) {
	f := newFixture(t)
	text, _, err := f.st.CreateKeyWith(t.Context(), admin, f.app.ID, "office", store.KeyOptions{
		AllowFrom: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	loopback, _ := forwardauth.ParseProxies("127.0.0.0/8, ::1")
	trusted := f.authServer(t, WithTrustedProxies(loopback)) + AuthPath
	untrusted := f.authServer(t) + AuthPath
	req := []string{"Authorization", "Bearer " + text, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models"}
	for _, tt := range []struct {
		name   string
		url    string
		header []string
		status int
		reason string
	}{
		{"inside, through the proxy", trusted, []string{"X-Forwarded-For", "203.0.113.9, 198.51.100.7"}, 200, ""},
		{"inside, X-Real-IP", trusted, []string{"X-Real-Ip", "198.51.100.8"}, 200, ""},
		{"outside", trusted, []string{"X-Forwarded-For", "198.51.100.7, 203.0.113.9"}, 403, "address_not_allowed"},
		{"no address named", trusted, nil, 403, "address_unknown"},
		{"from an untrusted peer", untrusted, []string{"X-Forwarded-For", "198.51.100.7"}, 403, "address_unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := authGet(t, tt.url, append(slices.Clone(req), tt.header...)...)
			if a.status != tt.status || tt.reason != "" && a.body["reason"] != tt.reason {
				t.Fatalf("%d %s; want %d %s", a.status, a.raw, tt.status, tt.reason)
			}
			if tt.status == 403 && (a.header.Get("WWW-Authenticate") != "" || strings.Contains(a.raw, "198.51.100") ||
				strings.Contains(a.raw, "203.0.113")) {
				t.Errorf("the refusal challenges or repeats an address: %v %s", a.header, a.raw)
			}
		})
	}
}

// TestVerifyFailsClosedWhenTheSchemaMoves: once the database moves to a
// schema past this server's (a replica of a newer version upgraded it),
// /v1/verify and /v1/auth answer 503 upgrade_required, never allowed, and
// /readyz fails, naming the upgrade.
func TestVerifyFailsClosedWhenTheSchemaMoves(t *testing.T) {
	f := newFixture(t)
	url := f.authServer(t)
	b := &store.Batch{}
	b.Put(store.TableMeta, []byte("schema"), []byte("apiscopes/5"))
	if _, err := f.st.Engine().Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if a := f.post(t, body(f.key, "model:deploy"), ""); a.status != http.StatusServiceUnavailable || a.body["reason"] != "upgrade_required" ||
		a.body["allowed"] != false {
		t.Errorf("verify: %d %s", a.status, a.raw)
	}
	a := authGet(t, url+AuthPath, "Authorization", "Bearer "+f.key, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/models")
	if a.status != http.StatusServiceUnavailable || a.body["reason"] != "upgrade_required" || a.header.Get("Retry-After") == "" {
		t.Errorf("auth: %d %s", a.status, a.raw)
	}
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(raw), "upgrade") {
		t.Errorf("readyz: %d %s", resp.StatusCode, raw)
	}
}
