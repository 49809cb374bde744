package gateways

import (
	"net/http"
	"testing"
	"time"
)

// TestTraefikHeaders sends /v1/auth what Traefik's ForwardAuth sends with
// docs/gateways.md's configuration (authRequestHeaders: the key's headers
// only; X-Forwarded-* set by Traefik over a client's), from a plain HTTP
// client: Traefik is not packaged here.
func TestTraefikHeaders(t *testing.T) {
	w := newWorld(t)
	traefik := func(method, uri string, extra ...string) (*http.Response, error) {
		req, err := http.NewRequest(method, "http://"+w.api+"/v1/auth", nil)
		if err != nil {
			return nil, err
		}
		for k, v := range map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Proto": "http",
			"X-Forwarded-Host": "api.example", "X-Forwarded-Uri": uri, "X-Forwarded-For": "198.51.100.7",
			"X-Forwarded-Port": "80", "X-Forwarded-Server": "traefik-1", "X-Real-Ip": "198.51.100.7"} {
			req.Header.Set(k, v)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Add(extra[i], extra[i+1])
		}
		return (&http.Client{Timeout: 10 * time.Second}).Do(req)
	}
	for _, tt := range []struct {
		name   string
		method string
		uri    string
		extra  []string
		status int
	}{
		{"allowed", "GET", "/workflows/42?page=2", []string{"Authorization", "Bearer " + w.key}, 200},
		{"x-api-key", "GET", "/workflows", []string{"X-API-Key", w.key}, 200},
		{"wrong scope", "POST", "/workflows/deploy", []string{"Authorization", "Bearer " + w.key}, 403},
		{"no key", "GET", "/workflows", nil, 401},
		{"unknown key", "GET", "/workflows", []string{"Authorization", "Bearer " + w.unknown}, 401},
		{"path trick", "GET", "/public/%2e%2e/admin", []string{"Authorization", "Bearer " + w.key}, 403},
		{"ambiguous path", "GET", "/public%2Fadmin", []string{"Authorization", "Bearer " + w.key}, 400},
		// Without authRequestHeaders a client's headers would go along: a
		// second convention is refused rather than chosen between.
		{"a client's X-Original-URI", "GET", "/admin", []string{"Authorization", "Bearer " + w.key, "X-Original-URI", "/workflows", "X-Original-Method", "GET"}, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := traefik(tt.method, tt.uri, tt.extra...)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 200 && resp.Header.Get("X-Apiscopes-App") != "Risk%20%26%20Compliance" {
				t.Errorf("headers for the upstream: %v", resp.Header)
			}
		})
	}
}
