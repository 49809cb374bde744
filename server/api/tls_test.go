package api

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"apiscopes/server/certfile"
	"apiscopes/server/certfile/certtest"
)

// TestServesTLS: with WithTLS, /v1/verify and /v1/auth answer over TLS to
// a client that trusts the CA, the connection bounds count TLS connections
// too, and plain HTTP gets no answer of the API.
func TestServesTLS(t *testing.T) {
	f := newFixture(t)
	ca := certtest.NewCA(t)
	pair, err := certfile.Load(ca.Issue(t, t.TempDir(), "apiscopes"))
	if err != nil {
		t.Fatal(err)
	}
	srv, addr := serveAPI(t, f.st, WithTLS(pair.Config()), WithRoutes(mustRoutes(t, testRoutes)))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+addr+"/v1/verify", "application/json", strings.NewReader(body(f.key, "model:deploy")))
	if err != nil || resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("verify over TLS: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", "https://"+addr+AuthPath, nil)
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", "/models")
	if resp, err = client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("auth over TLS: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitFor(t, "the one TLS connection to be counted", func() bool { open, _, _ := srv.Conns(); return open == 1 })
	if resp, err := http.Post("http://"+addr+"/v1/verify", "application/json", strings.NewReader(body(f.key, "model:deploy"))); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was answered by the API")
		}
		resp.Body.Close()
	}
}
