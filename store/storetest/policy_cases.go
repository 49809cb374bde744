package storetest

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

var policyCases = []testCase{
	{"TighteningAppliesAtOnce", testPolicyTightens},
	{"RelaxingWaitsForAnotherAdmin", testPolicyRelaxWaits},
	{"LifetimeAtCreate", testLifetimeAtCreate},
	{"LifetimeAtRoll", testLifetimeAtRoll},
	{"LifetimeWhenAnAppGainsAScope", testLifetimeWhenGaining},
	{"KeysBeyondPolicyListedNotCut", testKeysBeyondPolicy},
	{"SensitiveGrantWaits", testSensitiveGrantWaits},
	{"CreateAppWithASensitiveScope", testCreateAppWaits},
	{"OneRequestPerGrant", testOneRequestPerGrant},
	{"BypassRelaxThenGrantAlone", testBypassRelaxThenGrant},
	{"BypassApproveOwnRequest", testBypassOwnRequest},
	{"BypassApproveAStaleRequest", testBypassStaleRequest},
	{"RequestsExpire", testRequestsExpire},
	{"ApprovalsInTheStateHash", testApprovalsInTheStateHash},
	{"AddressLists", testAddressLists},
	{"WaitForUpgrade", testWaitForUpgrade},
}

// Admins as the SSH server makes them: a name from their allow-list line
// and the fingerprint of the key they logged in with. The suite's Admin
// (Ada, local) has no key: she may request and reject, never approve.
var (
	AdaSSH = store.Actor{Name: "Ada", Role: store.Admin, Origin: "ssh 10.0.0.1 SHA256:ada", Key: "SHA256:ada"}
	BoSSH  = store.Actor{Name: "Bo", Role: store.Admin, Origin: "ssh 10.0.0.2 SHA256:bo", Key: "SHA256:bo"}
	CySSH  = store.Actor{Name: "Cy", Role: store.Admin, Origin: "ssh 10.0.0.3 SHA256:cy", Key: "SHA256:cy"}
)

const day = 24 * time.Hour

// setPolicy changes the policy from what it is to next, failing the test
// on anything but success or, with wantPending, a request.
func setPolicy(t *testing.T, st *store.Store, by store.Actor, next store.Policy, wantPending bool) (store.Policy, []store.Approval) {
	t.Helper()
	cur, err := st.Policy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	now, err := st.SetPolicy(t.Context(), by, cur, next)
	var pe *store.PendingError
	switch {
	case wantPending && errors.As(err, &pe):
		return now, pe.Requests
	case wantPending:
		t.Fatalf("SetPolicy(%+v) = %v, want a request", next, err)
	case err != nil:
		t.Fatalf("SetPolicy(%+v): %v", next, err)
	}
	return now, nil
}

// pendingOf expects a PendingError and returns its one request.
func pendingOf(t *testing.T, what string, err error) store.Approval {
	t.Helper()
	var pe *store.PendingError
	if !errors.As(err, &pe) || !errors.Is(err, store.ErrPending) || len(pe.Requests) != 1 {
		t.Fatalf("%s = %v, want one request waiting", what, err)
	}
	return pe.Requests[0]
}

func lastEvent(t *testing.T, st *store.Store) store.Event {
	t.Helper()
	events, err := st.Audit(t.Context())
	if err != nil || len(events) == 0 {
		t.Fatalf("Audit: %d events, %v", len(events), err)
	}
	return events[0]
}

// Tightening (a shorter lifetime, a scope added to those needing approval)
// is in force the moment it is saved, audited as policy.update; a change
// from a policy read before another's is a conflict.
func testPolicyTightens(t *testing.T, e *env) {
	if p, err := e.st.Policy(t.Context()); err != nil || !p.IsZero() || p.Revision != 0 {
		t.Fatalf("a new database's policy: %+v, %v", p, err)
	}
	p, _ := setPolicy(t, e.st, Admin, store.Policy{DefaultMaxLifetime: 365 * day,
		MaxLifetime: map[scopes.ID]time.Duration{scopes.ModelDeploy: 30 * day}, Approval: scopes.NewSet(scopes.GuardrailDeploy)}, false)
	if p.Revision != 1 || p.UpdatedBy != "Ada" || p.Window() != store.DefaultApprovalWindow {
		t.Errorf("the policy in force: %+v", p)
	}
	read, err := e.st.Policy(t.Context())
	if err != nil || !read.Same(p) || read.Revision != 1 {
		t.Fatalf("Policy = %+v, %v", read, err)
	}
	ev := lastEvent(t, e.st)
	if ev.Action != store.ActionPolicyUpdate || ev.PolicyAfter == nil || ev.PolicyAfter.MaxLifetime["*"] != "365d" ||
		ev.PolicyAfter.MaxLifetime["model:deploy"] != "30d" || !slices.Equal(ev.PolicyAfter.Approval, []string{"guardrail:deploy"}) ||
		ev.PolicyBefore == nil || len(ev.PolicyBefore.MaxLifetime) != 0 {
		t.Errorf("the event: %s", eventJSON(t, ev))
	}
	// Shorter again, and one more scope for approval: at once.
	p, _ = setPolicy(t, e.st, Admin, store.Policy{DefaultMaxLifetime: 90 * day,
		MaxLifetime: map[scopes.ID]time.Duration{scopes.ModelDeploy: 7 * day}, Approval: scopes.NewSet(scopes.GuardrailDeploy, scopes.ModelExport),
		ApprovalWindow: 4 * time.Hour}, false)
	if p.Revision != 2 || p.DefaultMaxLifetime != 90*day || p.Window() != 4*time.Hour {
		t.Errorf("after tightening: %+v", p)
	}
	// A change made from revision 1 is refused: someone tightened since.
	if _, err := e.st.SetPolicy(t.Context(), Admin, store.Policy{Revision: 1}, store.Policy{}); !errors.Is(err, store.ErrPolicyConflict) ||
		!errors.Is(err, store.ErrConflict) {
		t.Errorf("a change from an old revision = %v", err)
	}
	// Rules out of bounds are refused, and viewers change nothing.
	for _, bad := range []store.Policy{{DefaultMaxLifetime: time.Minute}, {ApprovalWindow: 90 * day},
		{MaxLifetime: map[scopes.ID]time.Duration{"model:delete": day}}} {
		if _, err := e.st.SetPolicy(t.Context(), Admin, p, bad); !errors.Is(err, store.ErrPolicy) {
			t.Errorf("SetPolicy(%+v) = %v, want ErrPolicy", bad, err)
		}
	}
	if _, err := e.st.SetPolicy(t.Context(), Viewer, p, store.Policy{DefaultMaxLifetime: day}); !errors.Is(err, store.ErrPermission) {
		t.Errorf("a viewer's change = %v", err)
	}
	requireStateKept(t, e.st, "policy changes")
}

// Relaxing anything is itself a request: the policy stays as it is until
// another admin approves; what the same change tightens applies at once.
func testPolicyRelaxWaits(t *testing.T, e *env) {
	strict, _ := setPolicy(t, e.st, Admin, store.Policy{DefaultMaxLifetime: 30 * day,
		Approval: scopes.NewSet(scopes.GuardrailDeploy, scopes.ModelDeploy)}, false)
	// Longer lifetime, one scope off the list, and a shorter window:
	// the window applies now, the rest waits.
	next := store.Policy{DefaultMaxLifetime: 365 * day, Approval: scopes.NewSet(scopes.GuardrailDeploy), ApprovalWindow: 12 * time.Hour}
	now, reqs := setPolicy(t, e.st, AdaSSH, next, true)
	if len(reqs) != 1 || reqs[0].Kind != store.ApprovalPolicy || reqs[0].Policy == nil || !reqs[0].Policy.Same(next) ||
		reqs[0].RequestedBy != "Ada" || reqs[0].RequestedKey != "SHA256:ada" {
		t.Fatalf("the request: %+v", reqs)
	}
	if now.DefaultMaxLifetime != 30*day || now.Approval != strict.Approval || now.Window() != 12*time.Hour || now.Revision != 2 {
		t.Errorf("in force meanwhile: %+v", now)
	}
	if ev := lastEvent(t, e.st); ev.Action != store.ActionApprovalRequest || ev.Approval != reqs[0].ID || ev.PolicyAfter == nil {
		t.Errorf("the request's event: %s", eventJSON(t, ev))
	}
	// A re-run asks once.
	if _, again := setPolicy(t, e.st, AdaSSH, next, true); len(again) != 1 || again[0].ID != reqs[0].ID {
		t.Errorf("asked again: %+v", again)
	}
	list, err := e.st.Approvals(t.Context())
	if err != nil || len(list) != 1 || list[0].Stale != "" {
		t.Fatalf("Approvals = %+v, %v", list, err)
	}
	// Not by Ada, over SSH or locally; not by a viewer; by Bo.
	for _, who := range []store.Actor{AdaSSH, Admin, Viewer} {
		if _, err := e.st.Approve(t.Context(), who, reqs[0].ID); err == nil {
			t.Fatalf("%s (%s, key %q) approved", who.Name, who.Role, who.Key)
		}
	}
	if _, err := e.st.Approve(t.Context(), BoSSH, reqs[0].ID); err != nil {
		t.Fatal(err)
	}
	p, _ := e.st.Policy(t.Context())
	if !p.Same(next) || p.UpdatedBy != "Bo" {
		t.Errorf("after the approval the policy is %+v", p)
	}
	ev := lastEvent(t, e.st)
	if ev.Action != store.ActionApprovalApprove || ev.Actor != "Bo" || ev.RequestedBy != "Ada" || ev.RequestedKey != "SHA256:ada" ||
		ev.PolicyBefore == nil || ev.PolicyAfter == nil || ev.PolicyAfter.MaxLifetime["*"] != "365d" {
		t.Errorf("the approval's event: %s", eventJSON(t, ev))
	}
	if list, _ := e.st.Approvals(t.Context()); len(list) != 0 {
		t.Errorf("still waiting: %+v", list)
	}
	// Removing the whole policy is relaxing too.
	_, reqs = setPolicy(t, e.st, BoSSH, store.Policy{}, true)
	if _, err := e.st.Approve(t.Context(), CySSH, reqs[0].ID); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.st.Policy(t.Context()); !p.IsZero() {
		t.Errorf("after approving no policy: %+v", p)
	}
	requireStateKept(t, e.st, "relaxing")
}

// A new key must expire within the shortest maximum that applies to its
// app: the default, or a scope's.
func testLifetimeAtCreate(t *testing.T, e *env) {
	risk := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	reports := e.app(t.Context(), "Reports", scopes.NewSet(scopes.ModelExport))
	setPolicy(t, e.st, Admin, store.Policy{DefaultMaxLifetime: 365 * day, MaxLifetime: map[scopes.ID]time.Duration{scopes.ModelDeploy: 30 * day}}, false)
	for _, tt := range []struct {
		app   store.App
		o     store.KeyOptions
		max   time.Duration
		scope scopes.ID
	}{
		{risk, store.KeyOptions{}, 30 * day, scopes.ModelDeploy},
		{risk, store.KeyOptions{ExpiresIn: 31 * day}, 30 * day, scopes.ModelDeploy},
		{reports, store.KeyOptions{}, 365 * day, ""},
		{reports, store.KeyOptions{ExpiresAt: e.next().Add(400 * day)}, 365 * day, ""},
	} {
		_, _, err := e.st.CreateKeyWith(t.Context(), Admin, tt.app.ID, "k", tt.o)
		var le *store.LifetimeError
		if !errors.As(err, &le) || !errors.Is(err, store.ErrLifetime) || le.Max != tt.max || le.Scope != tt.scope ||
			!strings.Contains(err.Error(), "must expire within "+store.FormatDuration(tt.max)) {
			t.Errorf("a key of %s with %+v = %v", tt.app.Name, tt.o, err)
		}
	}
	for _, tt := range []struct {
		app store.App
		o   store.KeyOptions
	}{
		{risk, store.KeyOptions{ExpiresIn: 30 * day}},
		{risk, store.KeyOptions{ExpiresIn: time.Hour}},
		{reports, store.KeyOptions{ExpiresIn: 365 * day}},
	} {
		if _, _, err := e.st.CreateKeyWith(t.Context(), Admin, tt.app.ID, "k"+store.FormatDuration(tt.o.ExpiresIn), tt.o); err != nil {
			t.Errorf("a key of %s with %+v: %v", tt.app.Name, tt.o, err)
		}
	}
}

// A roll never gives the new key more than the maximum: a key that never
// expired gets exactly the maximum; a shorter lifetime passes on.
func testLifetimeAtRoll(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	_, forever := e.key(t.Context(), app.ID, "forever")
	_, week, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "week", store.KeyOptions{ExpiresIn: 7 * day})
	if err != nil {
		t.Fatal(err)
	}
	setPolicy(t, e.st, Admin, store.Policy{MaxLifetime: map[scopes.ID]time.Duration{scopes.ModelDeploy: 30 * day}}, false)
	at := e.next()
	_, rolled, _, err := e.st.RollKey(t.Context(), Admin, forever.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !rolled.ExpiresAt.Equal(at.Add(30 * day)) {
		t.Errorf("a never-expiring key rolled at %s expires %s, want 30 days on", at, rolled.ExpiresAt)
	}
	at = e.next()
	_, rolled, _, err = e.st.RollKey(t.Context(), Admin, week.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !rolled.ExpiresAt.Equal(at.Add(7 * day)) {
		t.Errorf("a week's key rolled expires %s, want a week on", rolled.ExpiresAt)
	}
	if ev := lastEvent(t, e.st); ev.Action != store.ActionKeyRoll || !ev.ExpiresAt.Equal(rolled.ExpiresAt) {
		t.Errorf("the roll's event: %s", eventJSON(t, ev))
	}
}

// An app gaining a scope with a shorter maximum is refused while keys of
// its outlive it, naming them; once they are rolled it may; an approved
// grant is held to the same rule.
func testLifetimeWhenGaining(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelExport))
	_, ci := e.key(t.Context(), app.ID, "ci")
	_, short, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "short", store.KeyOptions{ExpiresIn: 10 * day})
	if err != nil {
		t.Fatal(err)
	}
	setPolicy(t, e.st, Admin, store.Policy{MaxLifetime: map[scopes.ID]time.Duration{scopes.ModelDeploy: 30 * day, scopes.GuardrailDeploy: 14 * day},
		Approval: scopes.NewSet(scopes.GuardrailDeploy)}, false)
	batches := e.eng.Batches()
	_, err = e.st.SaveApp(t.Context(), Admin, app, "Risk EU", app.Scopes.With(scopes.ModelDeploy))
	var le *store.LifetimeError
	if !errors.As(err, &le) || len(le.Keys) != 1 || le.Keys[0].ID != ci.ID || le.Max != 30*day || le.Scope != scopes.ModelDeploy ||
		!strings.Contains(err.Error(), "ci ("+ci.Hint+")") {
		t.Fatalf("gaining model:deploy with a never-expiring key = %v", err)
	}
	if e.eng.Batches() != batches {
		t.Error("a refused save wrote something (the rename too must wait)")
	}
	pol, _ := e.st.Policy(t.Context())
	max, by, broken := pol.Breaks(app.Scopes, app.Scopes.With(scopes.ModelDeploy), mustKeys(t, e.st, app.ID), e.next())
	if max != 30*day || by != scopes.ModelDeploy || len(broken) != 1 || broken[0].ID != ci.ID {
		t.Errorf("Breaks = %s %s %+v", max, by, broken)
	}
	// Without it the app may: the 10-day key fits.
	if err := e.st.DeleteKey(t.Context(), Admin, ci.ID); err != nil {
		t.Fatal(err)
	}
	app, err = e.st.SaveApp(t.Context(), Admin, app, "Risk", app.Scopes.With(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	// A key for a month fits model:deploy; the grant of guardrail:deploy
	// (two weeks at most) waits, and approving it checks the keys as they
	// are then.
	_, month, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "month", store.KeyOptions{ExpiresIn: 25 * day})
	if err != nil {
		t.Fatal(err)
	}
	a := pendingOf(t, "a sensitive grant", second(e.st.SaveApp(t.Context(), Admin, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))))
	if _, err := e.st.Approve(t.Context(), BoSSH, a.ID); !errors.As(err, &le) || len(le.Keys) != 1 || le.Keys[0].ID != month.ID ||
		le.Scope != scopes.GuardrailDeploy {
		t.Fatalf("approving a grant whose maximum a key outlives = %v", err)
	}
	if err := e.st.DeleteKey(t.Context(), Admin, month.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Approve(t.Context(), BoSSH, a.ID); err != nil {
		t.Fatalf("approving once the keys fit: %v", err)
	}
	if keys := mustKeys(t, e.st, app.ID); len(keys) != 1 || keys[0].ID != short.ID {
		t.Errorf("keys %+v", keys)
	}
}

func second[T any](_ T, err error) error { return err }

func mustKeys(t *testing.T, st *store.Store, appID uint64) []store.Key {
	t.Helper()
	keys, err := st.Keys(t.Context(), appID)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// A policy tightened after keys were made does not cut them: they keep
// working, listed as beyond the policy until rolled or deleted.
func testKeysBeyondPolicy(t *testing.T, e *env) {
	risk := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	reports := e.app(t.Context(), "Reports", scopes.NewSet(scopes.ModelExport))
	text, old := e.key(t.Context(), risk.ID, "old")
	_, fits, err := e.st.CreateKeyWith(t.Context(), Admin, reports.ID, "fits", store.KeyOptions{ExpiresIn: 20 * day})
	if err != nil {
		t.Fatal(err)
	}
	_, long, err := e.st.CreateKeyWith(t.Context(), Admin, reports.ID, "long", store.KeyOptions{ExpiresIn: 100 * day})
	if err != nil {
		t.Fatal(err)
	}
	if beyond, err := e.st.KeysBeyondPolicy(t.Context()); err != nil || len(beyond) != 0 {
		t.Fatalf("without a policy: %+v, %v", beyond, err)
	}
	setPolicy(t, e.st, Admin, store.Policy{DefaultMaxLifetime: 90 * day, MaxLifetime: map[scopes.ID]time.Duration{scopes.ModelDeploy: 30 * day}}, false)
	beyond, err := e.st.KeysBeyondPolicy(t.Context())
	if err != nil || len(beyond) != 2 || beyond[0].Key.ID != long.ID || beyond[0].App != "Reports" || beyond[0].Max != 90*day ||
		beyond[0].Scope != "" || beyond[1].Key.ID != old.ID || beyond[1].Scope != scopes.ModelDeploy {
		t.Fatalf("KeysBeyondPolicy = %+v, %v", beyond, err)
	}
	requireReason(t, e.st, "a key beyond the policy still works", text, scopes.ModelDeploy, store.Allowed)
	if err := e.st.DeleteKey(t.Context(), Admin, long.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.st.RollKey(t.Context(), Admin, old.ID, 0); err != nil {
		t.Fatal(err)
	}
	if beyond, _ := e.st.KeysBeyondPolicy(t.Context()); len(beyond) != 0 {
		t.Errorf("after a delete and a roll: %+v", beyond)
	}
	_ = fits
}

// A change that grants a sensitive scope saves the rest at once (a
// rename, a scope removed, another added) and leaves that grant waiting:
// verify refuses the scope until another admin approves; every step names
// both people.
func testSensitiveGrantWaits(t *testing.T, e *env) {
	app := e.app(t.Context(), "Support", scopes.NewSet(scopes.GuardrailUndeploy, scopes.ModelExport))
	text, _ := e.key(t.Context(), app.ID, "bot")
	setPolicy(t, e.st, Admin, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy)}, false)
	want := scopes.NewSet(scopes.GuardrailUndeploy, scopes.GuardrailDeploy, scopes.WorkflowExport)
	saved, err := e.st.SaveApp(t.Context(), AdaSSH, app, "Support Desk", want)
	a := pendingOf(t, "a save granting guardrail:deploy", err)
	var pe *store.PendingError
	errors.As(err, &pe)
	if pe.App == nil || pe.App.Name != "Support Desk" || saved.Name != "Support Desk" ||
		saved.Scopes != scopes.NewSet(scopes.GuardrailUndeploy, scopes.WorkflowExport) {
		t.Fatalf("saved meanwhile: %+v (error's %+v)", saved, pe.App)
	}
	if a.Kind != store.ApprovalGrant || a.AppID != app.ID || a.Grant != scopes.NewSet(scopes.GuardrailDeploy) || a.RequestedBy != "Ada" ||
		!a.ExpiresAt.Equal(a.RequestedAt.Add(store.DefaultApprovalWindow)) {
		t.Errorf("the request: %+v", a)
	}
	requireReason(t, e.st, "the grant waits", text, scopes.GuardrailDeploy, store.ScopeNotGranted)
	requireReason(t, e.st, "the rest is in force", text, scopes.WorkflowExport, store.Allowed)
	requireReason(t, e.st, "the rest is in force", text, scopes.ModelExport, store.ScopeNotGranted)
	events, _ := e.st.Audit(t.Context())
	if events[0].Action != store.ActionApprovalRequest || events[0].Approval != a.ID || !slices.Equal(events[0].Grant, []string{"guardrail:deploy"}) ||
		events[1].Action != store.ActionAppUpdate || slices.Contains(events[1].ScopesAfter, "guardrail:deploy") {
		t.Errorf("events: %s, %s", eventJSON(t, events[0]), eventJSON(t, events[1]))
	}
	approved, err := e.st.Approve(t.Context(), BoSSH, a.ID)
	if err != nil || approved.ID != a.ID {
		t.Fatalf("Approve = %+v, %v", approved, err)
	}
	requireReason(t, e.st, "approved", text, scopes.GuardrailDeploy, store.Allowed)
	got, _ := e.st.App(t.Context(), app.ID)
	if got.Scopes != want || got.UpdatedBy != "Bo" {
		t.Errorf("after the approval: %+v", got)
	}
	ev := lastEvent(t, e.st)
	if ev.Action != store.ActionApprovalApprove || ev.Actor != "Bo" || ev.RequestedBy != "Ada" || ev.AppID != app.ID ||
		!slices.Contains(ev.ScopesAfter, "guardrail:deploy") || slices.Contains(ev.ScopesBefore, "guardrail:deploy") {
		t.Errorf("the approval's event: %s", eventJSON(t, ev))
	}
	// Decided: it is gone from the list, and cannot be approved twice.
	if _, err := e.st.Approve(t.Context(), CySSH, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("approving it again = %v", err)
	}
	// A scope the app holds already, or one removed, asks nothing.
	if _, err := e.st.SaveApp(t.Context(), Admin, got, got.Name, got.Scopes.Without(scopes.WorkflowExport)); err != nil {
		t.Errorf("a save keeping the sensitive scope: %v", err)
	}
	requireStateKept(t, e.st, "four eyes")
}

// An app created with a sensitive scope is made with its others and the
// request; with none other it is refused.
func testCreateAppWaits(t *testing.T, e *env) {
	setPolicy(t, e.st, Admin, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy, scopes.ModelDeploy)}, false)
	batches := e.eng.Batches()
	if _, err := e.st.CreateApp(t.Context(), Admin, "Only", scopes.NewSet(scopes.GuardrailDeploy, scopes.ModelDeploy)); !errors.Is(err, store.ErrApprovalNeedsScope) {
		t.Fatalf("an app of sensitive scopes alone = %v", err)
	}
	if e.eng.Batches() != batches {
		t.Error("the refused app wrote something")
	}
	app, err := e.st.CreateApp(t.Context(), Admin, "Mixed", scopes.NewSet(scopes.GuardrailDeploy, scopes.ModelDeploy, scopes.ModelExport))
	a := pendingOf(t, "an app with sensitive scopes", err)
	if app.ID == 0 || app.Scopes != scopes.NewSet(scopes.ModelExport) || a.AppID != app.ID ||
		a.Grant != scopes.NewSet(scopes.GuardrailDeploy, scopes.ModelDeploy) {
		t.Fatalf("app %+v, request %+v", app, a)
	}
	if got, err := e.st.AppNamed(t.Context(), "Mixed"); err != nil || got.Scopes != app.Scopes {
		t.Errorf("AppNamed = %+v, %v", got, err)
	}
	if _, err := e.st.Approve(t.Context(), BoSSH, a.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.st.App(t.Context(), app.ID); got.Scopes != scopes.NewSet(scopes.GuardrailDeploy, scopes.ModelDeploy, scopes.ModelExport) {
		t.Errorf("after the approval: %v", got.Scopes)
	}
	// Bulk loads make no requests.
	if _, err := e.st.CreateApps(t.Context(), Admin, []store.AppSpec{{Name: "Bulk", Scopes: scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport)}}); !errors.Is(err, store.ErrPolicy) {
		t.Errorf("a bulk load of a sensitive scope = %v", err)
	}
}

// The same change asked again (apply run twice) opens no second request;
// a change asking for more opens one for what no request covers.
func testOneRequestPerGrant(t *testing.T, e *env) {
	app := e.app(t.Context(), "Support", scopes.NewSet(scopes.ModelExport))
	setPolicy(t, e.st, Admin, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy, scopes.GuardrailUndeploy)}, false)
	want := app.Scopes.With(scopes.GuardrailDeploy)
	first := pendingOf(t, "the first save", second(e.st.SaveApp(t.Context(), Admin, app, app.Name, want)))
	app, _ = e.st.App(t.Context(), app.ID)
	batches := e.eng.Batches()
	again := pendingOf(t, "the same save again", second(e.st.SaveApp(t.Context(), Admin, app, app.Name, want)))
	if again.ID != first.ID || e.eng.Batches() != batches {
		t.Errorf("asked again: request %d (first %d), %d changes", again.ID, first.ID, e.eng.Batches()-batches)
	}
	more := want.With(scopes.GuardrailUndeploy)
	_, err := e.st.SaveApp(t.Context(), Admin, app, app.Name, more)
	var pe *store.PendingError
	if !errors.As(err, &pe) || len(pe.Requests) != 2 || pe.Requests[0].ID != first.ID || pe.Requests[1].Grant != scopes.NewSet(scopes.GuardrailUndeploy) {
		t.Fatalf("asking for more = %v", err)
	}
	// Approving one leaves the other approvable: the app changed by an
	// approval only.
	if _, err := e.st.Approve(t.Context(), BoSSH, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Approve(t.Context(), BoSSH, pe.Requests[1].ID); err != nil {
		t.Fatalf("the second request after the first was approved: %v", err)
	}
	if got, _ := e.st.App(t.Context(), app.ID); got.Scopes != more {
		t.Errorf("scopes %v", got.Scopes)
	}
}

// The bypass: one admin relaxes four eyes, then grants alone. The
// relaxing waits, so the grant waits too, and approving it oneself fails.
func testBypassRelaxThenGrant(t *testing.T, e *env) {
	app := e.app(t.Context(), "Support", scopes.NewSet(scopes.ModelExport))
	text, _ := e.key(t.Context(), app.ID, "bot")
	setPolicy(t, e.st, AdaSSH, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy)}, false)
	_, reqs := setPolicy(t, e.st, AdaSSH, store.Policy{}, true)
	if p, _ := e.st.Policy(t.Context()); p.Approval != scopes.NewSet(scopes.GuardrailDeploy) {
		t.Fatalf("four eyes was switched off alone: %+v", p)
	}
	grant := pendingOf(t, "the grant after relaxing", second(e.st.SaveApp(t.Context(), AdaSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))))
	for _, id := range []uint64{reqs[0].ID, grant.ID} {
		if _, err := e.st.Approve(t.Context(), AdaSSH, id); !errors.Is(err, store.ErrOwnRequest) {
			t.Errorf("Ada approving her own request %d = %v", id, err)
		}
	}
	requireReason(t, e.st, "no grant in force", text, scopes.GuardrailDeploy, store.ScopeNotGranted)
	// The same person over another key, or on the console, is the same
	// person.
	other := AdaSSH
	other.Key, other.Origin = "SHA256:ada-laptop", "ssh 10.0.0.9 SHA256:ada-laptop"
	if _, err := e.st.Approve(t.Context(), other, grant.ID); !errors.Is(err, store.ErrOwnRequest) {
		t.Errorf("Ada with another key = %v", err)
	}
	if p, _ := e.st.Policy(t.Context()); p.Approval.IsEmpty() {
		t.Error("the policy was relaxed")
	}
}

// Approving one's own request is refused by name and by key, and a local
// user (no SSH key) approves nothing; a viewer neither.
func testBypassOwnRequest(t *testing.T, e *env) {
	app := e.app(t.Context(), "Support", scopes.NewSet(scopes.ModelExport))
	setPolicy(t, e.st, Admin, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy)}, false)
	a := pendingOf(t, "Bo's grant", second(e.st.SaveApp(t.Context(), BoSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))))
	batches := e.eng.Batches()
	renamed := BoSSH
	renamed.Name = "Robert" // another line, the same key
	for _, tt := range []struct {
		who  store.Actor
		want error
	}{
		{BoSSH, store.ErrOwnRequest},
		{renamed, store.ErrOwnRequest},
		{store.Actor{Name: "BO", Role: store.Admin, Key: "SHA256:other"}, store.ErrOwnRequest},
		{Admin, store.ErrPermission},
		{Viewer, store.ErrPermission},
		{store.Actor{Name: "Vi", Role: store.Viewer, Key: "SHA256:vi"}, store.ErrPermission},
	} {
		if _, err := e.st.Approve(t.Context(), tt.who, a.ID); !errors.Is(err, tt.want) {
			t.Errorf("%s (key %q) approving = %v, want %v", tt.who.Name, tt.who.Key, err, tt.want)
		}
	}
	if e.eng.Batches() != batches {
		t.Error("a refused approval wrote something")
	}
	// Rejecting is withdrawing: the one who asked may, and so may a local
	// admin.
	if _, err := e.st.Reject(t.Context(), BoSSH, a.ID); err != nil {
		t.Fatal(err)
	}
	if ev := lastEvent(t, e.st); ev.Action != store.ActionApprovalReject || ev.Actor != "Bo" || ev.RequestedBy != "Bo" {
		t.Errorf("the rejection: %s", eventJSON(t, ev))
	}
	if got, _ := e.st.App(t.Context(), app.ID); got.Scopes.Allows(scopes.GuardrailDeploy) {
		t.Error("a rejected grant is in force")
	}
}

// A request whose app changed after it was made (renamed, re-scoped,
// deleted) is stale: approving it is refused, rejecting it works.
func testBypassStaleRequest(t *testing.T, e *env) {
	app := e.app(t.Context(), "Support", scopes.NewSet(scopes.ModelExport))
	text, _ := e.key(t.Context(), app.ID, "bot")
	setPolicy(t, e.st, Admin, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy)}, false)
	a := pendingOf(t, "a grant", second(e.st.SaveApp(t.Context(), AdaSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))))
	app, _ = e.st.App(t.Context(), app.ID)
	// Ada then widens the app in another way; Bo was asked about the app
	// as it was.
	if _, err := e.st.SaveApp(t.Context(), AdaSSH, app, app.Name, app.Scopes.With(scopes.ModelDeploy)); err != nil {
		t.Fatal(err)
	}
	list, _ := e.st.Approvals(t.Context())
	if len(list) != 1 || !strings.Contains(list[0].Stale, "scopes changed since, by Ada") {
		t.Fatalf("Approvals = %+v", list)
	}
	if _, err := e.st.Approve(t.Context(), BoSSH, a.ID); !errors.Is(err, store.ErrApprovalStale) || !strings.Contains(err.Error(), "reject it") {
		t.Fatalf("approving a stale request = %v", err)
	}
	requireReason(t, e.st, "no grant", text, scopes.GuardrailDeploy, store.ScopeNotGranted)
	if _, err := e.st.Reject(t.Context(), BoSSH, a.ID); err != nil {
		t.Fatal(err)
	}
	// Asking again after a stale one replaces it; a deleted app's request
	// is stale too.
	app, _ = e.st.App(t.Context(), app.ID)
	b := pendingOf(t, "asking again", second(e.st.SaveApp(t.Context(), AdaSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))))
	app, _ = e.st.App(t.Context(), app.ID)
	if _, err := e.st.SaveApp(t.Context(), AdaSSH, app, "Support Desk", app.Scopes); err != nil {
		t.Fatal(err)
	}
	app, _ = e.st.App(t.Context(), app.ID)
	c := pendingOf(t, "asking after a rename", second(e.st.SaveApp(t.Context(), AdaSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))))
	if c.ID == b.ID {
		t.Fatal("a stale request was answered again")
	}
	if list, _ := e.st.Approvals(t.Context()); len(list) != 1 || list[0].ID != c.ID {
		t.Errorf("the stale request was not replaced: %+v", list)
	}
	if err := e.st.DeleteApp(t.Context(), Admin, app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Approve(t.Context(), BoSSH, c.ID); !errors.Is(err, store.ErrApprovalStale) || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("approving a deleted app's grant = %v", err)
	}
	// A policy request whose policy changed since is stale too.
	_, reqs := setPolicy(t, e.st, AdaSSH, store.Policy{}, true)
	setPolicy(t, e.st, BoSSH, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy, scopes.ModelDeploy)}, false)
	if _, err := e.st.Approve(t.Context(), CySSH, reqs[0].ID); !errors.Is(err, store.ErrApprovalStale) {
		t.Errorf("approving a policy request after the policy changed = %v", err)
	}
}

// A request waits for the policy's window: approving it later is refused,
// and the housekeeping closes it with approval.expire.
func testRequestsExpire(t *testing.T, e *env) {
	app := e.app(t.Context(), "Support", scopes.NewSet(scopes.ModelExport))
	setPolicy(t, e.st, Admin, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy), ApprovalWindow: 2 * time.Hour}, false)
	a := pendingOf(t, "a grant", second(e.st.SaveApp(t.Context(), AdaSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))))
	if !a.ExpiresAt.Equal(a.RequestedAt.Add(2 * time.Hour)) {
		t.Errorf("expires %s, asked %s", a.ExpiresAt, a.RequestedAt)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := e.st.Approve(t.Context(), BoSSH, a.ID); !errors.Is(err, store.ErrApprovalExpired) {
		t.Fatalf("approving past the window = %v", err)
	}
	if err := e.st.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	ev := lastEvent(t, e.st)
	if ev.Action != store.ActionApprovalExpire || ev.Approval != a.ID || ev.Role != store.System || ev.RequestedBy != "Ada" {
		t.Errorf("the expiry: %s", eventJSON(t, ev))
	}
	if list, _ := e.st.Approvals(t.Context()); len(list) != 0 {
		t.Errorf("still waiting: %+v", list)
	}
	requireStateKept(t, e.st, "expiry")
}

// The policy and the requests are in the state hash: changed behind the
// store's back, check names them.
func testApprovalsInTheStateHash(t *testing.T, e *env) {
	app := e.app(t.Context(), "Support", scopes.NewSet(scopes.ModelExport))
	setPolicy(t, e.st, Admin, store.Policy{Approval: scopes.NewSet(scopes.GuardrailDeploy)}, false)
	a := pendingOf(t, "a grant", second(e.st.SaveApp(t.Context(), AdaSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))))
	requireStateKept(t, e.st, "a request")
	for _, tt := range []struct {
		name  string
		table store.Table
		key   []byte
		edit  func(map[string]any)
		says  string
	}{
		{"four eyes switched off", store.TableMeta, []byte("policy"), func(r map[string]any) { delete(r, "approval") },
			"policy was changed without an audit event"},
		{"a request's window stretched", store.TableApprovals, itob(a.ID), func(r map[string]any) { r["expires_at"] = "2099-01-01T00:00:00Z" },
			"approval 1 was changed without an audit event"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var rec map[string]any
			raw := rawGet(t, e.st.Engine(), tt.table, tt.key)
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			tt.edit(rec)
			changed, _ := json.Marshal(rec)
			commit(t, e.st.Engine(), put(tt.table, string(tt.key), string(changed)))
			if err := e.st.Check(t.Context()); !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Check = %v, want damage that says %q", err, tt.says)
			}
			commit(t, e.st.Engine(), put(tt.table, string(tt.key), string(raw)))
			if err := e.st.Check(t.Context()); err != nil {
				t.Errorf("put back: %v", err)
			}
		})
	}
}

// A key may be limited to addresses: normalised when made, kept by a roll
// (a new list means a new key), audited; a list that is not one is
// refused.
func testAddressLists(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	list, err := store.ParseAllowFrom(" 192.0.2.77/24, ::ffff:198.51.100.7 2001:db8::1/32,192.0.2.9,10.0.0.0/8 ")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(store.FormatAllowFrom(list), ","); got != "10.0.0.0/8,192.0.2.0/24,198.51.100.7/32,2001:db8::/32" {
		t.Fatalf("normalised: %s", got)
	}
	text, k, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "office", store.KeyOptions{AllowFrom: list})
	if err != nil {
		t.Fatal(err)
	}
	if len(k.AllowFrom) != 4 {
		t.Errorf("the key's list: %v", k.AllowFrom)
	}
	if ev := lastEvent(t, e.st); ev.Action != store.ActionKeyCreate || len(ev.AllowFrom) != 4 || ev.AllowFrom[0] != "10.0.0.0/8" {
		t.Errorf("the event: %s", eventJSON(t, ev))
	}
	if got := mustKeys(t, e.st, app.ID); len(got) != 1 || len(got[0].AllowFrom) != 4 {
		t.Errorf("Keys: %+v", got)
	}
	from := func(a string) netip.Addr { return netip.MustParseAddr(a) }
	for addr, want := range map[string]store.Reason{"10.9.8.7": store.Allowed, "::ffff:10.1.1.1": store.Allowed,
		"198.51.100.7": store.Allowed, "198.51.100.8": store.AddressNotAllowed, "2001:db9::1": store.AddressNotAllowed} {
		if d := e.st.VerifyFrom(text, scopes.ModelDeploy, from(addr)); d.Reason != want {
			t.Errorf("from %s: %v, want %s", addr, d, want)
		}
	}
	newText, rolled, _, err := e.st.RollKey(t.Context(), Admin, k.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(store.FormatAllowFrom(rolled.AllowFrom), ",") != strings.Join(store.FormatAllowFrom(list), ",") {
		t.Errorf("the rolled key's list: %v", rolled.AllowFrom)
	}
	if d := e.st.VerifyFrom(newText, scopes.ModelDeploy, from("203.0.113.1")); d.Reason != store.AddressNotAllowed {
		t.Errorf("the rolled key from outside: %v", d)
	}
	// Refused: not addresses, zones, too many.
	var many []string
	for i := range store.MaxAllowFrom + 1 {
		many = append(many, netip.AddrFrom4([4]byte{10, byte(i), 0, 1}).String())
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "fe80::1%eth0", strings.Join(many, ",")} {
		if _, err := store.ParseAllowFrom(bad); !errors.Is(err, store.ErrAllowFrom) {
			t.Errorf("ParseAllowFrom(%.40q) = %v", bad, err)
		}
	}
	tooMany := make([]netip.Prefix, store.MaxAllowFrom+1)
	for i := range tooMany {
		tooMany[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 1}), 32)
	}
	if _, _, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "many", store.KeyOptions{AllowFrom: tooMany}); !errors.Is(err, store.ErrAllowFrom) {
		t.Errorf("a key of %d networks = %v", len(tooMany), err)
	}
	requireStateKept(t, e.st, "address lists")
}

// A store opened with WaitForUpgrade on a database of the previous schema
// answers checks and writes nothing until a store of this version
// upgrades it; on a shared engine it learns so from its change stream.
func testWaitForUpgrade(t *testing.T, e *env) {
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, _ := e.key(t.Context(), app.ID, "ci")
	commit(t, e.st.Engine(), put(store.TableMeta, "schema", store.SchemaV3)) // as the previous version left it
	e.st.Close()
	waiting, weng := e.store(store.WaitForUpgrade())
	requireReason(t, waiting, "a waiting replica answers", text, scopes.ModelDeploy, store.Allowed)
	if !waiting.Ready() {
		t.Error("a waiting replica is not ready")
	}
	if err := waiting.Behind(); !errors.Is(err, store.ErrUpgradePending) || !strings.Contains(err.Error(), "apiscopes upgrade") {
		t.Errorf("Behind = %v", err)
	}
	batches := weng.Batches()
	if _, err := waiting.CreateApp(t.Context(), Admin, "New", scopes.NewSet(scopes.ModelExport)); !errors.Is(err, store.ErrUpgradePending) {
		t.Errorf("a change on a waiting replica = %v", err)
	}
	if weng.Batches() != batches {
		t.Error("a waiting replica wrote")
	}
	if v := rawGet(t, waiting.Engine(), store.TableMeta, schemaKey); string(v) != store.SchemaV3 {
		t.Fatalf("a waiting replica upgraded the database to %q", v)
	}
	if !e.h.Shared {
		waiting.Close()
		e.st, e.eng = e.store() // the upgrade
		if _, err := e.st.CreateApp(t.Context(), Admin, "New", scopes.NewSet(scopes.ModelExport)); err != nil {
			t.Fatal(err)
		}
		return
	}
	upgrader, _ := e.store()
	if v := rawGet(t, upgrader.Engine(), store.TableMeta, schemaKey); string(v) != store.Schema {
		t.Fatalf("the upgrade left schema %q", v)
	}
	eventually(t, "the waiting replica sees the upgrade", func() bool { return waiting.Behind() == nil })
	if _, err := waiting.CreateApp(t.Context(), Admin, "New", scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Errorf("a change after the upgrade: %v", err)
	}
	requireReason(t, waiting, "after the upgrade", text, scopes.ModelDeploy, store.Allowed)
	e.st = waiting
}

// A rolling upgrade: a replica of this version keeps serving while another
// replica, of the next version, migrates the cluster (its migration moves
// the schema past this one and writes what only it understands). The
// replica of this version sees the new schema through its change stream
// and fails closed: every check upgrade_required, never allowed from
// records it does not fully understand; not ready; no change written.
func testOlderReplicaFailsClosed(t *testing.T, e *env) {
	older := replica(t, e)
	app := e.app(t.Context(), "Risk", scopes.NewSet(scopes.ModelDeploy))
	text, k, err := e.st.CreateKeyWith(t.Context(), Admin, app.ID, "office", store.KeyOptions{AllowFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	inside := netip.MustParseAddr("10.1.2.3")
	eventually(t, "the key reaches the older replica", func() bool {
		return older.VerifyFrom(text, scopes.ModelDeploy, inside).Allowed
	})
	// The next version's migration, as one change: the schema moves, and
	// the key gains a rule this version has never heard of.
	var rec map[string]any
	if err := json.Unmarshal(rawGet(t, e.st.Engine(), store.TableKeys, place(app.ID, k.ID)), &rec); err != nil {
		t.Fatal(err)
	}
	rec["allow_hours"] = "09:00-17:00"
	raw, _ := json.Marshal(rec)
	b := &store.Batch{}
	b.Require(store.TableMeta, schemaKey, []byte(store.Schema))
	b.Put(store.TableMeta, schemaKey, []byte(newerSchema))
	b.Put(store.TableKeys, place(app.ID, k.ID), raw)
	commit(t, e.st.Engine(), b)
	markForeign(e.eng) // the next version's records: this version's check has no say on them

	for name, st := range map[string]*store.Store{"the replica that saw the commit": e.st, "the other replica": older} {
		eventually(t, name+" fails closed", func() bool { return !st.Ready() })
		if d := st.VerifyFrom(text, scopes.ModelDeploy, inside); d.Reason != store.UpgradeRequired || d.Allowed {
			t.Errorf("%s answers %v", name, d)
		}
		if err := st.Outdated(); !errors.Is(err, store.ErrNewerSchema) {
			t.Errorf("%s: Outdated = %v", name, err)
		}
		if _, err := st.CreateApp(t.Context(), Admin, "After", scopes.NewSet(scopes.ModelExport)); !errors.Is(err, store.ErrNewerSchema) {
			t.Errorf("%s: a change = %v", name, err)
		}
	}
	if v := rawGet(t, older.Engine(), store.TableMeta, schemaKey); string(v) != newerSchema {
		t.Errorf("the older replica wrote the schema back: %q", v)
	}
}
