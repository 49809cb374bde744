package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// TestStrictJSON: a verify body is one object with "key", "scope" and
// "client_ip", each a string, each once, named exactly ("client_ip" an IP
// address without a zone). encoding/json would take the last of
// two members and fold case ("Scope", "SCOPE", "ſcope", "\u212aey"), so a
// proxy or a service reading the same body with another parser could see
// another key or scope than the check did; each of these is refused.
func TestStrictJSON(t *testing.T) {
	f := newFixture(t)
	k := f.key
	tests := []struct {
		name, body, want string
	}{
		{"scope twice", `{"key": "` + k + `", "scope": "guardrail:deploy", "scope": "model:deploy"}`, `"scope" appears twice`},
		{"key twice, the same", `{"key": "` + k + `", "key": "` + k + `", "scope": "model:deploy"}`, `"key" appears twice`},
		{"Scope", `{"key": "` + k + `", "Scope": "model:deploy"}`, `differs from "scope" only in case`},
		{"SCOPE", `{"key": "` + k + `", "SCOPE": "model:deploy"}`, `differs from "scope" only in case`},
		{"long s", `{"key": "` + k + `", "ſcope": "model:deploy"}`, `differs from "scope" only in case`},
		{"Kelvin sign", `{"\u212aey": "` + k + `", "scope": "model:deploy"}`, `differs from "key" only in case`},
		{"KEY", `{"KEY": "` + k + `", "scope": "model:deploy"}`, `differs from "key" only in case`},
		{"unknown member", `{"key": "` + k + `", "scope": "model:deploy", "app": 1}`, `unknown member`},
		{"null key", `{"key": null, "scope": "model:deploy"}`, `"key" must be a string`},
		{"null scope", `{"key": "` + k + `", "scope": null}`, `"scope" must be a string`},
		{"scope list", `{"key": "` + k + `", "scope": ["model:deploy"]}`, `"scope" must be a string`},
		{"array", `[{"key": "` + k + `", "scope": "model:deploy"}]`, `must be a JSON object`},
		{"trailing garbage", `{"key": "` + k + `", "scope": "model:deploy"}]`, `syntax error`},
		{"cut short", `{"key": "` + k + `", "scope": "model:deploy"`, `ends too early`},
		{"client_ip twice", `{"key": "` + k + `", "scope": "model:deploy", "client_ip": "192.0.2.1", "client_ip": "192.0.2.1"}`,
			`"client_ip" appears twice`},
		{"Client_IP", `{"key": "` + k + `", "scope": "model:deploy", "Client_IP": "192.0.2.1"}`, `differs from "client_ip" only in case`},
		{"client_ip a number", `{"key": "` + k + `", "scope": "model:deploy", "client_ip": 3221225985}`, `"client_ip" must be a string`},
		{"client_ip null", `{"key": "` + k + `", "scope": "model:deploy", "client_ip": null}`, `"client_ip" must be a string`},
		{"client_ip a name", `{"key": "` + k + `", "scope": "model:deploy", "client_ip": "gateway.internal"}`, `"client_ip" must be the IP address`},
		{"client_ip with a port", `{"key": "` + k + `", "scope": "model:deploy", "client_ip": "192.0.2.1:443"}`, `"client_ip" must be the IP address`},
		{"client_ip with a zone", `{"key": "` + k + `", "scope": "model:deploy", "client_ip": "fe80::1%eth0"}`, `without a zone`},
		{"client_ip a key", `{"scope": "model:deploy", "client_ip": "` + k + `"}`, `"client_ip" must be the IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.post(t, tt.body, "")
			msg, _ := a.body["error"].(string)
			if a.status != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
				t.Errorf("got %d %s; want 400 with %q", a.status, a.raw, tt.want)
			}
		})
	}
	// Escapes in a name are the same name: JSON says so.
	if a := f.post(t, `{"k\u0065y": "`+k+`", "scope": "model:deploy"}`, ""); a.status != http.StatusOK {
		t.Errorf("an escaped member name: %d %s", a.status, a.raw)
	}
	// The three members, in any order.
	for _, b := range []string{`{"client_ip": "192.0.2.1", "scope": "model:deploy", "key": "` + k + `"}`,
		`{"key": "` + k + `", "client_ip": "2001:db8::1", "scope": "model:deploy"}`} {
		if a := f.post(t, b, ""); a.status != http.StatusOK {
			t.Errorf("%s: %d %s", b, a.status, a.raw)
		}
	}
}

// A key limited to addresses is allowed only with a "client_ip" in its
// list: 403 address_not_allowed from elsewhere, address_unknown with none;
// the refusal names the key by its hint and repeats no address; the
// metrics count each apart from scope refusals, and the app's denials of
// the scope do not count them.
func TestVerifyFromAnAddress(t *testing.T) {
	f := newFixture(t)
	text, _, err := f.st.CreateKeyWith(t.Context(), admin, f.app.ID, "office", store.KeyOptions{
		AllowFrom: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(f.st)
	srv := httptest.NewServer(Handler(f.st, nil, WithMetrics(m)))
	defer srv.Close()
	metrics := httptest.NewServer(MetricsHandler(m, f.st))
	defer metrics.Close()
	post := func(b string) answer {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/verify", strings.NewReader(b))
		return do(t, req)
	}
	for _, tt := range []struct {
		client string
		scope  string
		status int
		reason string
	}{
		{"192.0.2.77", "model:deploy", http.StatusOK, "allowed"},
		{"::ffff:192.0.2.78", "model:export", http.StatusOK, "allowed"},
		{"2001:db8:1::9", "model:deploy", http.StatusOK, "allowed"},
		{"192.0.2.77", "guardrail:deploy", http.StatusForbidden, "scope_not_granted"},
		{"198.51.100.7", "model:deploy", http.StatusForbidden, "address_not_allowed"},
		{"198.51.100.7", "guardrail:deploy", http.StatusForbidden, "address_not_allowed"},
		{"", "model:deploy", http.StatusForbidden, "address_unknown"},
	} {
		fields := map[string]string{"key": text, "scope": tt.scope}
		if tt.client != "" {
			fields["client_ip"] = tt.client
		}
		b, _ := json.Marshal(fields)
		a := post(string(b))
		if a.status != tt.status || a.body["reason"] != tt.reason {
			t.Errorf("from %q for %s: %d %s; want %d %s", tt.client, tt.scope, a.status, a.raw, tt.status, tt.reason)
		}
		if tt.client != "" && tt.status != http.StatusOK && strings.Contains(a.raw, tt.client) {
			t.Errorf("the refusal repeats the address: %s", a.raw)
		}
		if strings.HasPrefix(tt.reason, "address") && !strings.Contains(a.raw, "aps_…"+text[len(text)-4:]) {
			t.Errorf("the refusal does not name the key by its hint: %s", a.raw)
		}
	}
	// A key without a list takes any address, or none.
	if a := f.post(t, `{"key": "`+f.key+`", "scope": "model:deploy", "client_ip": "203.0.113.1"}`, ""); a.status != http.StatusOK {
		t.Errorf("a key without a list from anywhere: %d %s", a.status, a.raw)
	}
	counts := map[string]float64{}
	samples := scrape(t, metrics.URL)
	for _, reason := range []string{"allowed", "scope_not_granted", "address_not_allowed", "address_unknown"} {
		counts[reason] = samples[`apiscopes_verify_decisions_total{reason="`+reason+`"}`]
	}
	if counts["allowed"] != 3 || counts["scope_not_granted"] != 1 || counts["address_not_allowed"] != 2 || counts["address_unknown"] != 1 {
		t.Errorf("decisions by reason: %v", counts)
	}
	use, err := f.st.AppUsage(t.Context(), f.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range use.Scopes {
		want := int64(0)
		if u.Scope == scopes.GuardrailDeploy {
			want = 1 // the one refused from inside the list
		}
		if u.Denied != want {
			t.Errorf("%s: %d denials counted, want %d (address refusals are not the scope's)", u.Scope, u.Denied, want)
		}
	}
}
