package authz

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"apiscopes/scopes"
	"apiscopes/server/api"
	"apiscopes/server/certfile"
	"apiscopes/server/certfile/certtest"
	"apiscopes/server/forwardauth"
	"apiscopes/server/routes"
	"apiscopes/store"
)

var admin = store.Actor{Name: "alice", Role: store.Admin, Origin: "test"}

const testRoutes = `- path: /admin
  scope: guardrail:deploy
- method: [GET, POST]
  path: /models
  scope: model:deploy
- method: GET
  path: /
  scope: model:export
`

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// confirming is an engine that can or cannot confirm it is current, as the
// test says.
type confirming struct {
	store.Engine
	current *atomic.Bool
}

func (c confirming) Current(time.Duration) bool { return c.current.Load() }

type fixture struct {
	st      *store.Store
	current *atomic.Bool
	key     string // of "Risk & Compliance": model:deploy and model:export
	app     store.App
	logs    *syncBuffer
	metrics *api.Metrics
	client  authv3.AuthorizationClient
	conn    *grpc.ClientConn
	addr    string
}

// newFixture serves Check over a store that is current until the test
// says otherwise, with testRoutes, on loopback.
func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	f := &fixture{current: &atomic.Bool{}, logs: &syncBuffer{}}
	f.current.Store(true)
	st, err := store.New(confirming{Engine: store.NewMemory(), current: f.current},
		store.WithMaxStaleness(time.Second), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if f.app, err = st.CreateApp(context.Background(), admin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	if f.key, _, err = st.CreateKey(context.Background(), admin, f.app.ID, "envoy"); err != nil {
		t.Fatal(err)
	}
	if cfg.Routes == nil {
		m, err := routes.Parse("routes.yaml", []byte(testRoutes))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Routes = routes.Static(m)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.LogPerSource, cfg.LogTotal = -1, -1
	}
	f.metrics = api.NewMetrics(st)
	cfg.Metrics = f.metrics
	srv := New(st, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	f.addr = ln.Addr().String()
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = nil
	}
	if creds != nil {
		f.dial(t, creds)
	}
	return f
}

func (f *fixture) dial(t testing.TB, creds credentials.TransportCredentials) {
	t.Helper()
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f.conn, f.client = conn, authv3.NewAuthorizationClient(conn)
}

// envoyRequest is a CheckRequest as Envoy's ext_authz filter sends it for
// an HTTP/1.1 request: the client's socket address, Envoy's own, the
// request's pseudo-headers and headers in lower case in the headers map,
// its method, path (with the query), host, scheme and protocol, and the
// route's context_extensions.
func envoyRequest(method, path string, headers, ext map[string]string) *authv3.CheckRequest {
	h := map[string]string{":authority": "api.example", ":method": method, ":path": path, ":scheme": "http",
		"user-agent": "curl/8.5.0", "x-forwarded-proto": "http", "x-request-id": "4f1b2c3d-0000-4000-8000-000000000001"}
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 53211}}}}},
		Destination: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "10.0.0.5", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 10000}}}}},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)),
			Http: &authv3.AttributeContext_HttpRequest{Id: "1234567890", Method: method, Headers: h, Path: path,
				Host: "api.example", Scheme: "http", Protocol: "HTTP/1.1"},
		},
		ContextExtensions: ext,
		MetadataContext:   &corev3.Metadata{},
	}}
}

func (f *fixture) check(t testing.TB, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := f.client.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return resp
}

func headerOf(opts []*corev3.HeaderValueOption, name string) (string, bool) {
	for _, o := range opts {
		if strings.EqualFold(o.GetHeader().GetKey(), name) {
			return o.GetHeader().GetValue(), true
		}
	}
	return "", false
}

// TestCheckDecides: each outcome gets its gRPC code and the HTTP answer
// Envoy sends the client; an allow sets the app, its name and the key's
// hint over any a client sent, and takes the key and every other
// X-Apiscopes-* header off the request upstream.
func TestCheckDecides(t *testing.T) {
	f := newFixture(t, Config{})
	bearer := map[string]string{"authorization": "Bearer " + f.key}
	hint := forwardauth.Escape("aps_…" + f.key[len(f.key)-4:])
	for _, tt := range []struct {
		name      string
		req       *authv3.CheckRequest
		code      code.Code
		status    int32
		challenge string
		reason    string
	}{
		{"allowed by the routes", envoyRequest("GET", "/models/1?x=y", bearer, nil), code.Code_OK, 0, "", ""},
		{"allowed by the route's extension", envoyRequest("DELETE", "/anything", bearer, map[string]string{ScopeExtension: "model:export"}), code.Code_OK, 0, "", ""},
		{"the extension wins over the routes", envoyRequest("GET", "/models", bearer, map[string]string{ScopeExtension: "guardrail:undeploy"}),
			code.Code_PERMISSION_DENIED, 403, `Bearer realm="apiscopes", error="insufficient_scope", scope="guardrail:undeploy"`, "scope_not_granted"},
		{"x-api-key", envoyRequest("GET", "/models", map[string]string{"x-api-key": f.key}, nil), code.Code_OK, 0, "", ""},
		{"no key", envoyRequest("GET", "/models", nil, nil), code.Code_UNAUTHENTICATED, 401, `Bearer realm="apiscopes"`, "no_key"},
		{"unknown key", envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer aps_0000"}, nil),
			code.Code_UNAUTHENTICATED, 401, `Bearer realm="apiscopes", error="invalid_token"`, "malformed"},
		{"wrong scope", envoyRequest("GET", "/admin", bearer, nil),
			code.Code_PERMISSION_DENIED, 403, `Bearer realm="apiscopes", error="insufficient_scope", scope="guardrail:deploy"`, "scope_not_granted"},
		{"no route", envoyRequest("PUT", "/models", bearer, nil), code.Code_PERMISSION_DENIED, 403, "", "no_route"},
		{"path trick", envoyRequest("GET", "/public/%2e%2e/admin", bearer, nil),
			code.Code_PERMISSION_DENIED, 403, `Bearer realm="apiscopes", error="insufficient_scope", scope="guardrail:deploy"`, "scope_not_granted"},
		{"ambiguous path", envoyRequest("GET", "/public%2Fadmin", bearer, nil), code.Code_INVALID_ARGUMENT, 400, `Bearer realm="apiscopes", error="invalid_request"`, "invalid_request"},
		{"two keys", envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + f.key, "x-api-key": f.key}, nil),
			code.Code_INVALID_ARGUMENT, 400, `Bearer realm="apiscopes", error="invalid_request"`, "invalid_request"},
		{"unknown extension", envoyRequest("GET", "/models", bearer, map[string]string{ScopeExtension: "model:all"}), code.Code_INTERNAL, 500, "", "no_scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.check(t, tt.req)
			if got := code.Code(resp.GetStatus().GetCode()); got != tt.code {
				t.Fatalf("code %v, want %v: %v", got, tt.code, resp)
			}
			if tt.code == code.Code_OK {
				ok := resp.GetOkResponse()
				for name, want := range map[string]string{forwardauth.HeaderAppID: "1", forwardauth.HeaderApp: "Risk%20%26%20Compliance", forwardauth.HeaderKey: hint} {
					if got, _ := headerOf(ok.GetHeaders(), name); got != want {
						t.Errorf("%s = %q, want %q", name, got, want)
					}
				}
				for _, o := range ok.GetHeaders() {
					if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
						t.Errorf("%s would not overwrite a client's", o.GetHeader().GetKey())
					}
				}
				return
			}
			d := resp.GetDeniedResponse()
			if int32(d.GetStatus().GetCode()) != tt.status {
				t.Errorf("HTTP status %v, want %d", d.GetStatus().GetCode(), tt.status)
			}
			if got, _ := headerOf(d.GetHeaders(), "WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			var body map[string]any
			if ct, _ := headerOf(d.GetHeaders(), "Content-Type"); ct != "application/problem+json" || json.Unmarshal([]byte(d.GetBody()), &body) != nil ||
				body["reason"] != tt.reason || body["status"] != float64(tt.status) {
				t.Errorf("body %s (%s), want reason %s", d.GetBody(), ct, tt.reason)
			}
		})
	}
	t.Run("headers upstream", func(t *testing.T) {
		resp := f.check(t, envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + f.key,
			"x-apiscopes-app": "Forged", "x-apiscopes-scope": "guardrail:deploy", "x-apiscopes-anything": "x", "cookie": "a=b"}, nil))
		ok := resp.GetOkResponse()
		if got := strings.Join(ok.GetHeadersToRemove(), ","); got != "authorization,x-apiscopes-anything,x-apiscopes-scope" {
			t.Errorf("headers removed upstream: %s", got)
		}
		if app, _ := headerOf(ok.GetHeaders(), forwardauth.HeaderApp); app != "Risk%20%26%20Compliance" {
			t.Errorf("the forged X-Apiscopes-App is not overwritten: %q", app)
		}
	})
	t.Run("header_map", func(t *testing.T) {
		req := envoyRequest("GET", "/models", nil, nil)
		hr := req.Attributes.Request.Http
		hr.Headers = nil
		hr.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: ":path", RawValue: []byte("/models")}, {Key: "authorization", RawValue: []byte("Bearer " + f.key)}}}
		if resp := f.check(t, req); resp.GetStatus().GetCode() != int32(code.Code_OK) {
			t.Errorf("raw headers: %v", resp)
		}
		hr.HeaderMap.Headers = append(hr.HeaderMap.Headers, &corev3.HeaderValue{Key: "Authorization", RawValue: []byte("Bearer " + f.key)})
		if resp := f.check(t, req); resp.GetStatus().GetCode() != int32(code.Code_INVALID_ARGUMENT) {
			t.Errorf("a repeated authorization header: %v", resp)
		}
	})
}

// TestCheckFailsClosed: a store that cannot confirm it is current answers
// UNAVAILABLE with a 503 for a key that would be allowed, and the health
// service says NOT_SERVING until it can.
func TestCheckFailsClosed(t *testing.T) {
	f := newFixture(t, Config{})
	health := healthpb.NewHealthClient(f.conn)
	serving := func() healthpb.HealthCheckResponse_ServingStatus {
		r, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	if serving() != healthpb.HealthCheckResponse_SERVING {
		t.Fatal("not serving while current")
	}
	f.current.Store(false)
	waitFor(t, "the store to fail closed", func() bool { return !f.st.Ready() })
	resp := f.check(t, envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + f.key}, nil))
	if resp.GetStatus().GetCode() != int32(code.Code_UNAVAILABLE) || resp.GetDeniedResponse().GetStatus().GetCode() != 503 {
		t.Fatalf("not current: %v", resp)
	}
	waitFor(t, "NOT_SERVING", func() bool { return serving() == healthpb.HealthCheckResponse_NOT_SERVING })
	f.current.Store(true)
	waitFor(t, "SERVING again", func() bool { return serving() == healthpb.HealthCheckResponse_SERVING })
}

// TestCheckCountsAndNeverEchoes: checks are counted as verify's are and
// logged naming the client; no key or marker sent anywhere in the request
// comes back in the answer or the log.
func TestCheckCountsAndNeverEchoes(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.key[4:47]
	const canary = "canary-7f3a"
	reqs := []*authv3.CheckRequest{
		envoyRequest("GET", "/"+f.key, nil, nil),
		envoyRequest("GET", "/a%2F"+f.key+canary, map[string]string{"authorization": "Bearer " + f.key}, nil),
		envoyRequest(f.key, "/models", map[string]string{"x-api-key": f.key + canary}, nil),
		envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + canary}, map[string]string{ScopeExtension: f.key}),
		envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + f.key, "x-api-key": f.key}, nil),
		envoyRequest("GET", "/admin", map[string]string{"authorization": "Bearer " + f.key, "cookie": canary}, nil),
	}
	for i, req := range reqs {
		resp := f.check(t, req)
		out, _ := json.Marshal(resp)
		for _, leak := range []string{f.key, secret, canary} {
			if strings.Contains(string(out), leak) {
				t.Errorf("request %d: %q repeated in %s", i, leak, out)
			}
		}
	}
	logged := f.logs.String()
	for _, leak := range []string{f.key, secret, canary} {
		if strings.Contains(logged, leak) {
			t.Errorf("%q logged:\n%s", leak, logged)
		}
	}
	if !strings.Contains(logged, "client=198.51.100.7") || !strings.Contains(logged, "msg=check") {
		t.Errorf("log:\n%s", logged)
	}
	f.check(t, envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + f.key}, nil))
	metrics := scrape(t, f.metrics, f.st)
	for reason, want := range map[string]float64{"allowed": 1, "scope_not_granted": 1, "no_key": 1, "bad_request": 2, "no_route": 1, "no_scope": 1} {
		if got := metrics[`apiscopes_verify_decisions_total{reason="`+reason+`"}`]; got != want {
			t.Errorf("%s: %v, want %v", reason, got, want)
		}
	}
}

// TestCheckBounds: a request over the message bound is refused by gRPC,
// not read; connections past the cap are closed as they arrive.
func TestCheckBounds(t *testing.T) {
	f := newFixture(t, Config{MaxRecvBytes: 4 << 10, MaxConns: 2, MaxPerSource: -1})
	big := envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + f.key, "x-padding": strings.Repeat("x", 8<<10)}, nil)
	if _, err := f.client.Check(context.Background(), big); status.Code(err) != 8 { // RESOURCE_EXHAUSTED
		t.Errorf("an 8 KiB request under a 4 KiB bound: %v", err)
	}
	if resp := f.check(t, envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + f.key}, nil)); resp.GetStatus().GetCode() != 0 {
		t.Fatalf("a small request after it: %v", resp)
	}
	second, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	third, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := third.Read(make([]byte, 64)); n != 0 || err != io.EOF {
		t.Errorf("the third connection over a cap of 2 was kept: %d, %v", n, err)
	}
}

// TestCheckOverTLS: with Config.TLS, Check answers a client that trusts the
// CA, and only over TLS.
func TestCheckOverTLS(t *testing.T) {
	ca := certtest.NewCA(t)
	pair, err := certfile.Load(ca.Issue(t, t.TempDir(), "apiscopes"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Config{TLS: pair.Config()})
	f.dial(t, credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}))
	if resp := f.check(t, envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + f.key}, nil)); resp.GetStatus().GetCode() != 0 {
		t.Fatalf("over TLS: %v", resp)
	}
	plain, _ := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer plain.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := authv3.NewAuthorizationClient(plain).Check(ctx, envoyRequest("GET", "/models", nil, nil)); err == nil {
		t.Error("a plain-text client was answered")
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scrape reads the metrics as Prometheus would, by name and labels.
func scrape(t testing.TB, m *api.Metrics, st *store.Store) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	api.MetricsHandler(m, st).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	samples := map[string]float64{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			samples[line[:i]] = v
		}
	}
	return samples
}

// TestCheckTakesTheSourceAddress: Check decides a key limited to addresses
// by attributes.source.address: PERMISSION_DENIED and 403
// address_not_allowed from outside its list, address_unknown with no
// address; and once the database moves past this server's schema,
// UNAVAILABLE upgrade_required, never OK.
func TestCheckTakesTheSourceAddress(t *testing.T) {
	f := newFixture(t, Config{})
	text, _, err := f.st.CreateKeyWith(t.Context(), admin, f.app.ID, "office", store.KeyOptions{
		AllowFrom: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	from := func(addr string) *authv3.CheckRequest {
		req := envoyRequest("GET", "/models", map[string]string{"authorization": "Bearer " + text}, nil)
		if addr == "" {
			req.Attributes.Source = nil
		} else {
			req.Attributes.Source.Address.GetSocketAddress().Address = addr
		}
		return req
	}
	for _, tt := range []struct {
		addr   string
		code   code.Code
		reason string
	}{
		{"198.51.100.7", code.Code_OK, ""},
		{"::ffff:198.51.100.9", code.Code_OK, ""},
		{"203.0.113.9", code.Code_PERMISSION_DENIED, "address_not_allowed"},
		{"", code.Code_PERMISSION_DENIED, "address_unknown"},
	} {
		resp := f.check(t, from(tt.addr))
		if got := code.Code(resp.GetStatus().GetCode()); got != tt.code {
			t.Errorf("from %q: %s, want %s", tt.addr, got, tt.code)
			continue
		}
		if tt.reason == "" {
			continue
		}
		denied := resp.GetDeniedResponse()
		if denied.GetStatus().GetCode() != 403 || !strings.Contains(denied.GetBody(), `"reason":"`+tt.reason+`"`) ||
			strings.Contains(denied.GetBody(), "203.0.113") {
			t.Errorf("from %q: %d %s", tt.addr, denied.GetStatus().GetCode(), denied.GetBody())
		}
	}
	b := &store.Batch{}
	b.Put(store.TableMeta, []byte("schema"), []byte("apiscopes/5"))
	if _, err := f.st.Engine().Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the store to fail closed", func() bool { return !f.st.Ready() })
	resp := f.check(t, from("198.51.100.7"))
	if resp.GetStatus().GetCode() != int32(code.Code_UNAVAILABLE) || !strings.Contains(resp.GetDeniedResponse().GetBody(), "upgrade_required") {
		t.Errorf("after the schema moved: %v", resp)
	}
}
