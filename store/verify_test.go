package store

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
)

func TestDecisionString(t *testing.T) {
	key := Key{Hint: "aps_…AbCd"}
	app := App{Name: "Risk"}
	tests := []struct {
		d    Decision
		want string
	}{
		{Decision{Allowed: true, Reason: Allowed, Scope: scopes.ModelDeploy}.naming(app, key),
			`allowed: key aps_…AbCd of app "Risk" may use model:deploy`},
		{Decision{Reason: ScopeNotGranted, Scope: scopes.ModelDeploy}.naming(app, key),
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
	if len(Reasons) != 12 || len(seen) != 12 || Reasons[0] != Allowed {
		t.Errorf("Reasons = %v", Reasons)
	}
	for r, want := range map[Reason]string{Allowed: "allowed", Malformed: "malformed", BadChecksum: "bad_checksum",
		UnknownKey: "unknown_key", UnknownScope: "unknown_scope", ScopeNotGranted: "scope_not_granted", Expired: "expired",
		Unavailable: "unavailable", AddressNotAllowed: "address_not_allowed", AddressUnknown: "address_unknown",
		UpgradeRequired: "upgrade_required", Damaged: "damaged"} {
		if string(r) != want {
			t.Errorf("Reason %q, want %q", r, want)
		}
	}
}

// A decision crosses the local socket as JSON: it comes back naming the
// same app and key, and one that found no key comes back naming none.
func TestDecisionJSON(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	app := App{ID: 3, Name: "Risk", Scopes: scopes.NewSet(scopes.ModelDeploy), Retired: []string{"model:train"},
		CreatedBy: "Ada", CreatedAt: at, Revision: 4, Keys: 1}
	key := Key{ID: 9, AppID: 3, Name: "ci", Hint: "aps_…AbCd", CreatedBy: "Ada", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	for _, d := range []Decision{
		Decision{Allowed: true, Reason: Allowed, Scope: scopes.ModelDeploy}.naming(app, key),
		Decision{Reason: Expired, Scope: scopes.ModelExport}.naming(app, key),
		{Reason: UnknownKey, Scope: scopes.ModelDeploy},
	} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var got Decision
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("%s came back as %+v (app %+v, key %+v)", b, got, got.App(), got.Key())
		}
		if got.Found() != d.Found() {
			t.Errorf("%s: found %v, want %v", b, got.Found(), d.Found())
		}
	}
	if b, _ := json.Marshal(Decision{Reason: Malformed}); !strings.Contains(string(b), `"App":{`) {
		t.Errorf("a refusal lost the shape of its JSON: %s", b)
	}
}

// A decision shares its app and key with the index: what a caller does to
// the copies it is handed changes neither the index nor a later decision.
func TestDecisionHandsOutCopies(t *testing.T) {
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, _ := mustCreateKey(t, s, app.ID, "ci")
	d := s.Verify(text, scopes.ModelDeploy, netip.Addr{})
	if !d.Found() || !d.Allowed {
		t.Fatalf("the new key: %v", d)
	}
	a, k := d.App(), d.Key()
	a.Name, a.Scopes, k.Name, k.Hint = "Mallory", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport), "x", "y"
	again := s.Verify(text, scopes.ModelExport, netip.Addr{})
	if again.Allowed || again.App().Name != "Risk" || again.Key().Name != "ci" || d.App().Name != "Risk" {
		t.Errorf("a changed copy reached the index: %v, app %q, key %q", again, again.App().Name, again.Key().Name)
	}
	named := Decision{Reason: Allowed}.naming(App{Retired: []string{"model:train"}}, Key{ID: 1})
	named.App().Retired[0] = "model:deploy"
	if r := named.App().Retired; r[0] != "model:train" {
		t.Errorf("a change to a copy's retired scopes reached the decision: %v", r)
	}
	if (Decision{Reason: UnknownKey}).Found() {
		t.Error("a refusal of an unknown key names a key")
	}
}
