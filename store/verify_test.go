package store

import (
	"testing"

	"apiscopes/scopes"
)

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
	if len(Reasons) != 8 || len(seen) != 8 || Reasons[0] != Allowed {
		t.Errorf("Reasons = %v", Reasons)
	}
	for r, want := range map[Reason]string{Allowed: "allowed", Malformed: "malformed", BadChecksum: "bad_checksum",
		UnknownKey: "unknown_key", UnknownScope: "unknown_scope", ScopeNotGranted: "scope_not_granted", Expired: "expired"} {
		if string(r) != want {
			t.Errorf("Reason %q, want %q", r, want)
		}
	}
}
