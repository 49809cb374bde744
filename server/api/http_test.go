package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

var admin = store.Actor{Name: "alice", Role: store.Admin, Origin: "test"}

// clock is a test clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log destination the handler and the test share.
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

type fixture struct {
	st    *store.Store
	clock *clock
	srv   *httptest.Server
	logs  *syncBuffer
	app   store.App
	key   string // allowed model:deploy and model:export
	keyID uint64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	st, err := bolt.OpenStore(filepath.Join(t.TempDir(), "apiscopes.db"), bolt.Options{}, store.WithClock(f.clock.now),
		store.WithRandom(rand.NewChaCha8([32]byte{9})), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if f.app, err = st.CreateApp(context.Background(), admin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	var k store.Key
	if f.key, k, err = st.CreateKey(context.Background(), admin, f.app.ID, "reports-prod"); err != nil {
		t.Fatal(err)
	}
	f.keyID = k.ID
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.srv = httptest.NewServer(Handler(st, log, WithLogLimits(0, 0))) // every line, for the tests that read the log
	t.Cleanup(f.srv.Close)
	return f
}

type answer struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func (f *fixture) post(t *testing.T, body, bearer string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/verify", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", bearer)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw), header: resp.Header}
	json.Unmarshal(raw, &a.body)
	return a
}

func body(key, scope string) string {
	b, _ := json.Marshal(map[string]string{"key": key, "scope": scope})
	return string(b)
}

func TestVerifyAllowed(t *testing.T) {
	f := newFixture(t)
	for name, a := range map[string]answer{
		"key in body":   f.post(t, body(f.key, "model:deploy"), ""),
		"bearer header": f.post(t, `{"scope": "model:deploy"}`, "Bearer "+f.key),
		"both, same":    f.post(t, body(f.key, "model:deploy"), "bearer "+f.key),
	} {
		t.Run(name, func(t *testing.T) {
			if a.status != http.StatusOK || a.body["allowed"] != true || a.body["reason"] != "allowed" {
				t.Fatalf("got %d %s", a.status, a.raw)
			}
			app, _ := a.body["app"].(map[string]any)
			key, _ := a.body["key"].(map[string]any)
			if app["name"] != "Risk & Compliance" || key["name"] != "reports-prod" || key["hint"] != "aps_…"+f.key[len(f.key)-4:] {
				t.Errorf("app %v, key %v", app, key)
			}
			if got := a.body["scopes"]; len(got.([]any)) != 2 {
				t.Errorf("scopes = %v", got)
			}
			if strings.Contains(a.raw, f.key) {
				t.Error("the answer holds the key")
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// Each denial answers 403 with its reason, and a change in the console
// flips the answer on the very next request.
func TestVerifyDenials(t *testing.T) {
	f := newFixture(t)
	bad := []byte(f.key)
	bad[20] ^= 1 // flip a letter's case or a digit: still base62, wrong checksum
	if bad[20] < '0' || (bad[20] > '9' && bad[20] < 'A') {
		bad[20] = 'Q'
	}
	unissued := issuedElsewhere(t)

	tests := []struct {
		name   string
		change func()
		key    string
		scope  string
		reason string
	}{
		{"scope not granted", nil, f.key, "guardrail:deploy", "scope_not_granted"},
		{"malformed", nil, "aps_short", "model:deploy", "malformed"},
		{"bad checksum", nil, string(bad), "model:deploy", "bad_checksum"},
		{"unknown key", nil, unissued, "model:deploy", "unknown_key"},
		{"re-scoped", func() {
			if _, err := f.st.SaveApp(t.Context(), admin, f.app, f.app.Name, scopes.NewSet(scopes.ModelExport)); err != nil {
				t.Fatal(err)
			}
		}, f.key, "model:deploy", "scope_not_granted"},
		{"key deleted", func() {
			if err := f.st.DeleteKey(t.Context(), admin, f.keyID); err != nil {
				t.Fatal(err)
			}
		}, f.key, "model:export", "unknown_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.change != nil {
				tt.change()
			}
			a := f.post(t, body(tt.key, tt.scope), "")
			if a.status != http.StatusForbidden || a.body["allowed"] != false || a.body["reason"] != tt.reason {
				t.Fatalf("got %d %s; want 403 %s", a.status, a.raw, tt.reason)
			}
			if a.body["message"] == "" || a.body["app"] != nil || a.body["key"] != nil {
				t.Errorf("a refusal carries %s", a.raw)
			}
		})
	}
}

func issuedElsewhere(t *testing.T) string {
	t.Helper()
	st, err := bolt.OpenStore(filepath.Join(t.TempDir(), "other.db"), bolt.Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, _ := st.CreateApp(t.Context(), admin, "Other", scopes.Full())
	text, _, err := st.CreateKey(t.Context(), admin, app.ID, "k")
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func TestVerifyExpiredAndAppDeleted(t *testing.T) {
	f := newFixture(t)
	text, _, err := f.st.CreateKeyWith(t.Context(), admin, f.app.ID, "week", store.KeyOptions{ExpiresAt: f.clock.now().Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if a := f.post(t, body(text, "model:deploy"), ""); a.status != http.StatusOK {
		t.Fatalf("before expiry: %d %s", a.status, a.raw)
	}
	f.clock.advance(7 * 24 * time.Hour)
	if a := f.post(t, body(text, "model:deploy"), ""); a.status != http.StatusForbidden || a.body["reason"] != "expired" {
		t.Fatalf("after expiry: %d %s", a.status, a.raw)
	}
	if err := f.st.DeleteApp(t.Context(), admin, f.app.ID); err != nil {
		t.Fatal(err)
	}
	if a := f.post(t, body(f.key, "model:deploy"), ""); a.status != http.StatusForbidden || a.body["reason"] != "unknown_key" {
		t.Fatalf("app deleted: %d %s", a.status, a.raw)
	}
}

func TestVerifyBadRequests(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		body   string
		bearer string
		status int
		want   string
	}{
		{"not JSON", "key=aps_x", "", 400, "not valid JSON: a syntax error at byte 1"},
		{"cut short", `{"key": "aps_`, "", 400, "not valid JSON: it ends too early"},
		{"empty", "", "", 400, "the body is empty"},
		{"wrong type", `{"key": 7, "scope": "model:deploy"}`, "", 400, `"key" must be a string`},
		{"unknown field", `{"key": "` + f.key + `", "scopes": "model:deploy"}`, "", 400, `unknown member: only "key" and "scope" are read`},
		{"two values", body(f.key, "model:deploy") + body(f.key, "model:deploy"), "", 400, "more than one JSON value"},
		{"no scope", `{"key": "` + f.key + `"}`, "", 400, "no scope"},
		{"unknown scope", body(f.key, "model:delete"), "", 400, `unknown scope; valid scopes: workflow:deploy`},
		{"no key", `{"scope": "model:deploy"}`, "", 401, "no API key"},
		{"basic auth", `{"scope": "model:deploy"}`, "Basic YWxpY2U6cw==", 401, `must be "Bearer <API key>"`},
		{"two keys", body(f.key, "model:deploy"), "Bearer aps_other", 401, "two different keys"},
		{"too big", `{"scope": "model:deploy", "key": "` + strings.Repeat("a", MaxBodyBytes) + `"}`, "", 413, "over 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.post(t, tt.body, tt.bearer)
			msg, _ := a.body["error"].(string)
			if a.status != tt.status || !strings.Contains(msg, tt.want) || a.body["allowed"] != false {
				t.Errorf("got %d %s; want %d with %q", a.status, a.raw, tt.status, tt.want)
			}
			if strings.Contains(a.raw, f.key) {
				t.Error("the answer echoes the key")
			}
		})
	}
	if a := f.post(t, `{"scope": "model:deploy"}`, ""); a.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}

func TestRoutes(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/healthz", nil)
	if a := do(t, req); a.status != 200 || a.body["status"] != "ok" {
		t.Errorf("healthz: %d %s", a.status, a.raw)
	}
	req, _ = http.NewRequest(http.MethodGet, f.srv.URL+"/v1/verify", nil)
	if a := do(t, req); a.status != http.StatusMethodNotAllowed || !strings.Contains(a.header.Get("Allow"), "POST") {
		t.Errorf("GET /v1/verify: %d %v", a.status, a.header)
	}
	req, _ = http.NewRequest(http.MethodPost, f.srv.URL+"/v2/verify", nil)
	if a := do(t, req); a.status != http.StatusNotFound {
		t.Errorf("unknown path: %d", a.status)
	}
}

// Whatever is sent, the log never holds a key or its secret part.
func TestNoKeyInLogs(t *testing.T) {
	f := newFixture(t)
	f.post(t, body(f.key, "model:deploy"), "")
	f.post(t, body(f.key, "guardrail:deploy"), "")
	f.post(t, body(f.key, "nope"), "")
	f.post(t, `{"scope": "model:deploy"}`, "Bearer "+f.key)
	f.post(t, `{"key": "`+f.key+`", "scope": "model:deploy", "extra": 1}`, "")
	f.post(t, `{"key": "`+f.key+`x", "scope": "model:deploy"}`, "")
	f.post(t, `{"key": "`+f.key, "")
	logs := f.logs.String()
	if !strings.Contains(logs, "reason=allowed") || !strings.Contains(logs, "reason=scope_not_granted") ||
		!strings.Contains(logs, "key=aps_…") {
		t.Errorf("the log misses the checks:\n%s", logs)
	}
	secret := f.key[4:47]
	if strings.Contains(logs, secret) || strings.Contains(logs, secret[:20]) {
		t.Errorf("the log holds the key:\n%s", logs)
	}
}

func TestServerLimits(t *testing.T) {
	srv := New("127.0.0.1:0", nil, nil)
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 ||
		srv.MaxHeaderBytes == 0 || srv.ErrorLog == nil {
		t.Errorf("server without limits: %+v", srv)
	}
}

// TestOtherMethodsAndPathsAnswerJSON: a client that gets the method or the
// path wrong still gets JSON saying what is served.
func TestOtherMethodsAndPathsAnswerJSON(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v1/verify", http.StatusMethodNotAllowed},
		{http.MethodPut, "/v1/verify", http.StatusMethodNotAllowed},
		{http.MethodGet, "/v2/verify", http.StatusNotFound},
	} {
		req, err := http.NewRequest(tt.method, f.srv.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := do(t, req)
		if a.status != tt.status || a.body["error"] == nil || a.body["allowed"] != false {
			t.Errorf("%s %s = %d %s", tt.method, tt.path, a.status, a.raw)
		}
		if tt.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodPost {
			t.Errorf("%s %s: Allow = %q", tt.method, tt.path, a.header.Get("Allow"))
		}
		// A 404 names what is served as served, never as if it too did not exist.
		if msg, _ := a.body["error"].(string); tt.status == http.StatusNotFound &&
			(strings.Contains(msg, "endpoint: POST") || !strings.Contains(msg, "this server answers POST /v1/verify")) {
			t.Errorf("%s %s: the 404 reads %q", tt.method, tt.path, msg)
		}
	}
}

// Take returns what was written since the last Take, and forgets it.
func (s *syncBuffer) Take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}
