package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestStrictJSON: a verify body is one object with "key" and "scope", each
// a string, each once, named exactly. encoding/json would take the last of
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
}
