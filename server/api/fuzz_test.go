package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
			// "key" and a "scope", as strings.
			var members map[string]any
			if err := json.Unmarshal([]byte(body), &members); err != nil {
				t.Fatalf("accepted a body encoding/json refuses: %v", err)
			}
			for name, v := range members {
				if _, ok := v.(string); !ok || (name != "key" && name != "scope") {
					t.Fatalf("accepted member %q = %v", name, v)
				}
			}
		}
		if strings.Contains(rec.Body.String(), fx.key) || strings.Contains(fx.logs.String(), fx.key) {
			t.Fatal("the key's text left the server")
		}
	})
}
