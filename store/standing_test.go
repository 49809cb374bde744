package store

import (
	"errors"
	"testing"

	"apiscopes/scopes"
)

// TestStandingIsCheckedOnEveryWrite: an actor whose standing has gone (a
// revoked SSH key) or dropped to viewer (a demoted one) changes nothing,
// whatever role it started with; an admin in good standing writes.
func TestStandingIsCheckedOnEveryWrite(t *testing.T) {
	s := newTestStore(t)
	role, gone := Admin, error(nil)
	asked := 0
	alice := Actor{Name: "alice", Role: Admin, Origin: "ssh", Standing: func() (Role, error) { asked++; return role, gone }}
	app, err := s.CreateApp(t.Context(), alice, "Payments", scopes.NewSet(scopes.ModelDeploy))
	if err != nil || asked != 1 {
		t.Fatalf("in good standing: %v (asked %d times)", err, asked)
	}
	_, key, err := s.CreateKey(t.Context(), alice, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		role Role
		err  error
	}{{"demoted", Viewer, nil}, {"revoked", Admin, errors.New("key removed from the allow-list")}} {
		role, gone = tc.role, tc.err
		writes := map[string]error{}
		_, writes["CreateApp"] = s.CreateApp(t.Context(), alice, "Billing", scopes.NewSet(scopes.ModelDeploy))
		_, writes["SaveApp"] = s.SaveApp(t.Context(), alice, app, "Renamed", app.Scopes)
		_, _, writes["CreateKey"] = s.CreateKey(t.Context(), alice, app.ID, "other")
		_, _, _, writes["RollKey"] = s.RollKey(t.Context(), alice, key.ID, 0)
		writes["DeleteKey"] = s.DeleteKey(t.Context(), alice, key.ID)
		writes["DeleteApp"] = s.DeleteApp(t.Context(), alice, app.ID)
		_, writes["CreateApps"] = s.CreateApps(t.Context(), alice, []AppSpec{{Name: "Bulk", Scopes: scopes.NewSet(scopes.ModelDeploy)}})
		for op, err := range writes {
			if !errors.Is(err, ErrPermission) {
				t.Errorf("%s: %s: %v, want a permission error", tc.name, op, err)
			}
		}
	}
	if apps, _ := s.Apps(t.Context()); len(apps) != 1 || apps[0].Name != "Payments" {
		t.Fatalf("apps after refused writes: %+v", apps)
	}
}
