package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzVerifyRequest throws arbitrary bodies and Authorization headers at the
// verify endpoint. Whatever arrives, the answer is one of the documented
// statuses with a JSON body that agrees with it, a body it accepts holds
// only "key" and "scope" for any JSON parser, and neither the answer nor
// the log ever holds the issued key's text.
func FuzzVerifyRequest(f *testing.F) {
	for _, seed := range []struct{ body, auth string }{
		{`{"key": "aps_x", "scope": "model:deploy"}`, ""},
		{`{"scope": "model:deploy"}`, "Bearer aps_0000000000000000000000000000000000000000000000000"},
		{`{"scope": "guardrail:deploy", "key": ""}`, "Basic Zm9vOmJhcg=="},
		{`{"key": 7}`, ""},
		{`{"scope": "model:deploy"} {"scope": "model:deploy"}`, ""},
		{`{"key": "aps_\u0000", "scope": "\u202e"}`, "Bearer"},
		{`{"key": "aps_x", "scope": "model:deploy", "client_ip": "192.0.2.1"}`, ""},
		{`{"client_ip": "::ffff:10.0.0.1", "scope": "model:deploy"}`, "Bearer aps_0000000000000000000000000000000000000000000000000"},
		{`{"client_ip": "fe80::1%eth0", "scope": "model:deploy", "key": "aps_x"}`, ""},
		{`{"client_ip": "192.0.2.1", "client_ip": "192.0.2.2", "scope": "model:deploy"}`, ""},
		{strings.Repeat(`{"a":`, 200), ""},
		{"", ""},
	} {
		f.Add(seed.body, seed.auth)
	}
	fx := newFixture(f)
	h := fx.srv.Config.Handler
	f.Fuzz(func(t *testing.T, body, auth string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body))
		if auth != "" && !strings.ContainsAny(auth, "\r\n") {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var got struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusOK:
			if !got.Allowed || got.Reason != "allowed" {
				t.Fatalf("200 but %+v", got)
			}
		case http.StatusForbidden, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			if got.Allowed {
				t.Fatalf("%d but allowed", rec.Code)
			}
		default:
			t.Fatalf("undocumented status %d: %s", rec.Code, rec.Body.String())
		}
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			// The body was accepted: any JSON parser reads in it only a
			// "key", a "scope" and a "client_ip", as strings, the last an
			// IP address without a zone.
			var members map[string]any
			if err := json.Unmarshal([]byte(body), &members); err != nil {
				t.Fatalf("accepted a body encoding/json refuses: %v", err)
			}
			for name, v := range members {
				s, ok := v.(string)
				if !ok || (name != "key" && name != "scope" && name != "client_ip") {
					t.Fatalf("accepted member %q = %v", name, v)
				}
				if a, err := netip.ParseAddr(s); name == "client_ip" && (err != nil || a.Zone() != "") {
					t.Fatalf("accepted client_ip %q", s)
				}
			}
		}
		if strings.Contains(rec.Body.String(), fx.key) || strings.Contains(fx.logs.String(), fx.key) {
			t.Fatal("the key's text left the server")
		}
	})
}
