package store

import (
	"strings"
	"testing"

	"apiscopes/scopes"
)

func TestVerify(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	text, key := mustCreateKey(t, s, app.ID, "ci")
	flipped := text[:20] + string("AB"[boolIndex(text[20] == 'A')]) + text[21:]
	unissued := withChecksum("aps_" + strings.Repeat("7", 43))

	tests := []struct {
		name    string
		key     string
		scope   scopes.ID
		allowed bool
		reason  Reason
		found   bool // Decision carries the app and key
	}{
		{"allowed", text, scopes.ModelDeploy, true, Allowed, true},
		{"allowed other scope", text, scopes.ModelExport, true, Allowed, true},
		{"scope not granted", text, scopes.WorkflowDeploy, false, ScopeNotGranted, true},
		{"unknown scope", text, "workflow:delete", false, UnknownScope, false},
		{"scope in upper case", text, "MODEL:DEPLOY", false, UnknownScope, false},
		{"empty scope", text, "", false, UnknownScope, false},
		{"malformed", "aps_nope", scopes.ModelDeploy, false, Malformed, false},
		{"empty key", "", scopes.ModelDeploy, false, Malformed, false},
		{"key with newline", text + "\n", scopes.ModelDeploy, false, Malformed, false},
		{"secret too large", withChecksum("aps_" + strings.Repeat("z", 43)), scopes.ModelDeploy, false, Malformed, false},
		{"bad checksum", flipped, scopes.ModelDeploy, false, BadChecksum, false},
		{"unknown key", unissued, scopes.ModelDeploy, false, UnknownKey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.Verify(tt.key, tt.scope)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if d.Allowed != tt.allowed || d.Reason != tt.reason || d.Scope != tt.scope {
				t.Errorf("Verify = {Allowed:%v Reason:%s Scope:%s}, want {%v %s %s}",
					d.Allowed, d.Reason, d.Scope, tt.allowed, tt.reason, tt.scope)
			}
			if tt.found {
				if d.App.ID != app.ID || d.App.Name != "Risk" || d.Key != key {
					t.Errorf("Decision app %+v key %+v; want app %d and key %+v", d.App, d.Key, app.ID, key)
				}
			} else if d.App.ID != 0 || d.Key.ID != 0 {
				t.Errorf("Decision names app %d / key %d for a refused key", d.App.ID, d.Key.ID)
			}
			msg := d.String()
			if msg == "" || strings.HasPrefix(msg, "allowed") != tt.allowed {
				t.Errorf("String() = %q", msg)
			}
			if tt.key != "" && strings.Contains(msg, tt.key) {
				t.Errorf("String() %q holds the key", msg)
			}
			if len(tt.key) >= KeyLen && strings.Contains(msg, tt.key[len(KeyPrefix):KeyLen-checksumLen]) {
				t.Errorf("String() %q holds the key's secret", msg)
			}
		})
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Scopes belong to the app: changing them changes what every key of the app
// may do, on the very next check, both ways.
func TestVerifyFollowsAppScopes(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	k1, _ := mustCreateKey(t, s, app.ID, "one")
	k2, _ := mustCreateKey(t, s, app.ID, "two")

	check := func(step string, scope scopes.ID, want Reason) {
		t.Helper()
		for _, k := range []string{k1, k2} {
			d, err := s.Verify(k, scope)
			if err != nil || d.Reason != want || d.Allowed != (want == Allowed) {
				t.Errorf("%s: Verify(%s) = %v, %v; want %s", step, scope, d, err, want)
			}
		}
	}
	check("created", scopes.ModelDeploy, Allowed)
	check("created", scopes.GuardrailDeploy, ScopeNotGranted)

	if _, err := s.SetScopes(admin, app.ID, scopes.NewSet(scopes.GuardrailDeploy)); err != nil {
		t.Fatal(err)
	}
	check("SetScopes", scopes.ModelDeploy, ScopeNotGranted)
	check("SetScopes", scopes.GuardrailDeploy, Allowed)

	if _, err := s.UpdateApp(admin, app.ID, "Risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	check("UpdateApp", scopes.ModelDeploy, Allowed)
	check("UpdateApp", scopes.ModelExport, Allowed)
	check("UpdateApp", scopes.GuardrailDeploy, ScopeNotGranted)

	// A rename alone changes nothing about what the keys may do.
	if _, err := s.RenameApp(admin, app.ID, "Credit risk"); err != nil {
		t.Fatal(err)
	}
	check("RenameApp", scopes.ModelDeploy, Allowed)
	if d, _ := s.Verify(k1, scopes.ModelDeploy); d.App.Name != "Credit risk" {
		t.Errorf("Decision app name = %q after a rename", d.App.Name)
	}

	keys, _ := s.Keys(app.ID)
	if err := s.DeleteKey(admin, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Verify(k1, scopes.ModelDeploy); d.Allowed || d.Reason != UnknownKey {
		t.Errorf("deleted key: Verify = %v, want unknown_key", d)
	}
	if d, _ := s.Verify(k2, scopes.ModelDeploy); !d.Allowed {
		t.Errorf("remaining key: Verify = %v, want allowed", d)
	}
}

func TestDecisionString(t *testing.T) {
	key := Key{Hint: "aps_…AbCd"}
	app := App{Name: "Risk"}
	tests := []struct {
		d    Decision
		want string
	}{
		{Decision{Allowed: true, Reason: Allowed, Scope: scopes.ModelDeploy, App: app, Key: key},
			`allowed: key aps_…AbCd of app "Risk" may use model:deploy`},
		{Decision{Reason: ScopeNotGranted, Scope: scopes.ModelDeploy, App: app, Key: key},
			`denied: app "Risk" does not have scope model:deploy`},
		{Decision{Reason: UnknownScope, Scope: "workflow:delete"}, `denied: unknown scope "workflow:delete"`},
		{Decision{Reason: Malformed}, "denied: the API key is malformed (expected aps_ and 49 letters or digits)"},
		{Decision{Reason: BadChecksum}, "denied: the API key has a bad checksum (mistyped or truncated)"},
		{Decision{Reason: UnknownKey}, "denied: the API key is unknown (never issued, or deleted)"},
		{Decision{Reason: "something_new"}, "denied: something_new"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// Reasons are matched by scripts: their spelling is a contract.
func TestReasonValues(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		seen[r] = true
	}
	if len(Reasons) != 7 || len(seen) != 7 || Reasons[0] != Allowed {
		t.Errorf("Reasons = %v", Reasons)
	}
	for r, want := range map[Reason]string{Allowed: "allowed", Malformed: "malformed", BadChecksum: "bad_checksum",
		UnknownKey: "unknown_key", UnknownScope: "unknown_scope", ScopeNotGranted: "scope_not_granted", Expired: "expired"} {
		if string(r) != want {
			t.Errorf("Reason %q, want %q", r, want)
		}
	}
}
