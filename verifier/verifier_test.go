package verifier

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/api"
	"apiscopes/server/certfile"
	"apiscopes/server/certfile/certtest"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

var admin = store.Actor{Name: "alice", Role: store.Admin, Origin: "test"}

type fixture struct {
	st   *store.Store
	app  store.App
	key  string // model:deploy
	api  string // the verify API's URL
	hits atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	st, err := bolt.OpenStore(filepath.Join(t.TempDir(), "apiscopes.db"), bolt.Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if f.app, err = st.CreateApp(t.Context(), admin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy)); err != nil {
		t.Fatal(err)
	}
	if f.key, _, err = st.CreateKey(t.Context(), admin, f.app.ID, "svc"); err != nil {
		t.Fatal(err)
	}
	h := api.Handler(st, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.api = srv.URL
	return f
}

// service is the guarded handler: it answers with the caller it was told,
// and says whether the key's headers reached it.
var service = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, _ := FromContext(r.Context())
	fmt.Fprintf(w, "app=%d %s key=%s scope=%s auth=%q apikey=%q", c.AppID, c.App, c.KeyHint, c.Scope,
		r.Header.Get("Authorization"), r.Header.Get("X-API-Key"))
})

func call(t *testing.T, h http.Handler, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/models", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestRequire: allowed requests reach the service with their caller and
// without the key; refusals get RFC 6750 answers; a key deleted, or a
// scope removed, refuses the very next request: nothing is cached.
func TestRequire(t *testing.T) {
	f := newFixture(t)
	v := New(f.api)
	deploy, export := v.Require("model:deploy", service), v.Require("model:export", service)
	hint := "aps_…" + f.key[len(f.key)-4:]

	rec := call(t, deploy, "Authorization", "Bearer "+f.key)
	if rec.Code != 200 || rec.Body.String() != fmt.Sprintf(`app=%d Risk & Compliance key=%s scope=model:deploy auth="" apikey=""`, f.app.ID, hint) {
		t.Fatalf("allowed: %d %s", rec.Code, rec.Body)
	}
	if rec := call(t, deploy, "X-API-Key", f.key); rec.Code != 200 {
		t.Fatalf("X-API-Key: %d %s", rec.Code, rec.Body)
	}
	for _, tt := range []struct {
		name      string
		h         http.Handler
		header    []string
		status    int
		challenge string
	}{
		{"wrong scope", export, []string{"Authorization", "Bearer " + f.key}, 403, `Bearer realm="apiscopes", error="insufficient_scope", scope="model:export"`},
		{"no key", deploy, nil, 401, `Bearer realm="apiscopes"`},
		{"malformed", deploy, []string{"Authorization", "Bearer aps_short"}, 401, `Bearer realm="apiscopes", error="invalid_token"`},
		{"empty bearer", deploy, []string{"Authorization", "Bearer "}, 401, `Bearer realm="apiscopes", error="invalid_token"`},
		{"two keys", deploy, []string{"Authorization", "Bearer " + f.key, "X-API-Key", f.key}, 400, `Bearer realm="apiscopes", error="invalid_request"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := call(t, tt.h, tt.header...)
			if rec.Code != tt.status || rec.Header().Get("WWW-Authenticate") != tt.challenge ||
				rec.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(rec.Body.String(), "app=") {
				t.Errorf("%d %q %s", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body)
			}
			if strings.Contains(rec.Body.String(), f.key) {
				t.Errorf("the key is echoed: %s", rec.Body)
			}
		})
	}

	if _, err := f.st.SaveApp(t.Context(), admin, f.app, f.app.Name, scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	if rec := call(t, deploy, "Authorization", "Bearer "+f.key); rec.Code != 403 {
		t.Fatalf("the request after the scope was removed: %d %s", rec.Code, rec.Body)
	}
	if rec := call(t, export, "Authorization", "Bearer "+f.key); rec.Code != 200 {
		t.Fatalf("the request after the scope was given: %d %s", rec.Code, rec.Body)
	}
	keys, _ := f.st.Keys(t.Context(), f.app.ID)
	if err := f.st.DeleteKey(t.Context(), admin, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	before := f.hits.Load()
	if rec := call(t, export, "Authorization", "Bearer "+f.key); rec.Code != 401 || f.hits.Load() != before+1 {
		t.Fatalf("the request after the key was deleted: %d %s, %d checks", rec.Code, rec.Body, f.hits.Load()-before)
	}
}

// TestFailsClosed: whatever goes wrong with the check, the request is
// refused with 503 and never reaches the service.
func TestFailsClosed(t *testing.T) {
	f := newFixture(t)
	servers := map[string]http.HandlerFunc{
		"stalls past the timeout": func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // then net/http sees the client go
			<-r.Context().Done()
		},
		"answers 200 without an allow": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"allowed":false,"reason":"allowed"}`)
		},
		"answers 200 with garbage": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `<html>ok</html>`) },
		"answers 403 with an allow": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			io.WriteString(w, `{"allowed":true,"reason":"allowed"}`)
		},
		"answers 500": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
		"is unavailable (a replica)": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			io.WriteString(w, `{"allowed":false,"reason":"unavailable"}`)
		},
		"redirects": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, f.api+"/v1/verify", http.StatusTemporaryRedirect)
		},
		"answers a huge allow-like body": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"allowed":true,"reason":"allowed","x":"`+strings.Repeat("a", 1<<20)+`"}`)
		},
	}
	for name, h := range servers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			reached := false
			v := New(srv.URL, WithTimeout(100*time.Millisecond), WithLogger(slog.New(slog.DiscardHandler)))
			rec := call(t, v.Require("model:deploy", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })),
				"Authorization", "Bearer "+f.key)
			if rec.Code != 503 || reached || rec.Header().Get("Retry-After") == "" {
				t.Errorf("%d, reached %v: %s", rec.Code, reached, rec.Body)
			}
		})
	}
	t.Run("out of reach", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		if rec := call(t, New("http://"+addr).Require("model:deploy", service), "Authorization", "Bearer "+f.key); rec.Code != 503 {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	})
	for _, bad := range []string{"apiscopes:8080", "ftp://apiscopes", "https://", "http://h/?x=1", "http://user:pw@h"} {
		v := New(bad)
		if v.Err() == nil {
			t.Errorf("%q was taken as a URL", bad)
		}
		if rec := call(t, v.Require("model:deploy", service), "Authorization", "Bearer "+f.key); rec.Code != 503 {
			t.Errorf("%q: %d", bad, rec.Code)
		}
	}
}

// TestTLSWithTheCallersCA: an https server signed by the caller's CA is
// trusted with WithRootCAs, and refused (503) without it.
func TestTLSWithTheCallersCA(t *testing.T) {
	f := newFixture(t)
	ca := certtest.NewCA(t)
	pair, err := certfile.Load(ca.Issue(t, t.TempDir(), "apiscopes"))
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New("", f.st, nil, api.WithTLS(pair.Config()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	url := "https://" + ln.Addr().String()
	if rec := call(t, New(url, WithRootCAs(ca.Pool())).Require("model:deploy", service), "Authorization", "Bearer "+f.key); rec.Code != 200 {
		t.Errorf("with the CA: %d %s", rec.Code, rec.Body)
	}
	if rec := call(t, New(url).Require("model:deploy", service), "Authorization", "Bearer "+f.key); rec.Code != 503 {
		t.Errorf("without it: %d %s", rec.Code, rec.Body)
	}
}

// TestCheckPoolsConnections: checks in a row reuse one connection.
func TestCheckPoolsConnections(t *testing.T) {
	f := newFixture(t)
	var conns atomic.Int64
	h := api.Handler(f.st, nil)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	v := New(srv.URL)
	for range 20 {
		_, d, err := v.Check(context.Background(), f.key, scopes.ModelDeploy)
		if err != nil || !d.Allowed {
			t.Fatalf("%+v %v", d, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 checks in a row opened %d connections", n)
	}
}

func TestRequirePanicsOnAnUnknownScope(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "unknown scope") {
			t.Errorf("recovered %v", r)
		}
	}()
	New("http://127.0.0.1:1").Require("model:everything", service)
}

// TestRequireSendsTheClientsAddress: a key limited to addresses passes the
// middleware only from an address in its list: the connection's by
// default, or what WithClientIP says; from elsewhere the client gets 403
// with reason address_not_allowed and the service is not called.
func TestRequireSendsTheClientsAddress(t *testing.T) {
	f := newFixture(t)
	text, _, err := f.st.CreateKeyWith(t.Context(), admin, f.app.ID, "office", store.KeyOptions{
		AllowFrom: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(h http.Handler, remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/models", nil)
		req.RemoteAddr = remote
		req.Header.Set("Authorization", "Bearer "+text)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	plain := New(f.api).Require("model:deploy", service)
	if rec := send(plain, "192.0.2.7:4321"); rec.Code != http.StatusOK {
		t.Errorf("from inside: %d %s", rec.Code, rec.Body)
	}
	if rec := send(plain, "203.0.113.9:4321"); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "address_not_allowed") {
		t.Errorf("from outside: %d %s", rec.Code, rec.Body)
	}
	behind := New(f.api, WithClientIP(func(r *http.Request) netip.Addr {
		return netip.MustParseAddr(r.Header.Get("X-Test-Client"))
	})).Require("model:deploy", service)
	req := httptest.NewRequest("POST", "/models", nil)
	req.RemoteAddr = "203.0.113.9:4321" // the proxy
	req.Header.Set("Authorization", "Bearer "+text)
	req.Header.Set("X-Test-Client", "192.0.2.8")
	rec := httptest.NewRecorder()
	behind.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("behind a proxy, the client inside: %d %s", rec.Code, rec.Body)
	}
	if _, d, err := New(f.api).Check(t.Context(), text, "model:deploy"); err != nil || d.Reason != store.AddressUnknown {
		t.Errorf("Check without an address = %v, %v", d, err)
	}
}
