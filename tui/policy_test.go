package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// Admins as the SSH server makes them: a name and the key they logged in
// with. The console's testAdmin is a local user: she may ask, not approve.
var (
	adaSSH = store.Actor{Name: "ada", Role: store.Admin, Origin: "ssh 10.0.0.1 SHA256:ada", Key: "SHA256:ada"}
	boSSH  = store.Actor{Name: "bo", Role: store.Admin, Origin: "ssh 10.0.0.2 SHA256:bo", Key: "SHA256:bo"}
)

// seedPolicy is the bank with a key policy set after its keys were made:
// every key lives a year at most, model:deploy keys thirty days, and a
// grant of guardrail:deploy waits for a second admin.
func seedPolicy(t *testing.T, st *store.Store) {
	t.Helper()
	seedBank(t, st)
	_, err := st.SetPolicy(t.Context(), testAdmin, store.Policy{}, store.Policy{DefaultMaxLifetime: 365 * day,
		MaxLifetime: map[scopes.ID]time.Duration{scopes.ModelDeploy: 30 * day}, Approval: scopes.NewSet(scopes.GuardrailDeploy)})
	if err != nil {
		t.Fatal(err)
	}
}

// askForGuardrails has ada ask for guardrail:deploy on Marketing.
func askForGuardrails(t *testing.T, st *store.Store) store.Approval {
	t.Helper()
	app, err := st.AppNamed(t.Context(), "Marketing")
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.SaveApp(t.Context(), adaSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy))
	pe, ok := err.(*store.PendingError)
	if !ok {
		t.Fatalf("the grant did not wait: %v", err)
	}
	return pe.Requests[0]
}

// TestKeyPolicyPage: the Key Policy page under Security & Control shows
// the rules and the keys made before them that outlive them; an admin
// edits a row in place, the page says before Save what tightens at once
// and what waits, and relaxing becomes a request; leaving or quitting
// with edits asks first.
func TestKeyPolicyPage(t *testing.T) {
	forSizes(t, "policy", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedPolicy(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("p")
		s := ct.golden(name("page"), "Every key")
		for _, want := range []string{"365 days", "Key Policy", "no change to save"} {
			if !strings.Contains(s, want) {
				t.Errorf("the page lacks %q:\n%s", want, s)
			}
		}
		ct.walkFocus(name("page"))
		// Deploy Guardrails off the list: relaxing.
		for range 9 {
			ct.press("down")
		}
		ct.press("space")
		s = ct.golden(name("relaxing"), "Unsaved")
		if flat := strings.Join(strings.Fields(s), " "); !strings.Contains(flat, "−four eyes guardrail:deploy") || !strings.Contains(flat, "asks another admin") {
			t.Errorf("the page does not say what Save does:\n%s", s)
		}
		// ctrl+c asks, naming the edit; back to editing.
		ct.press("ctrl+c")
		ct.golden(name("quit-with-edits"), "Quit without saving the key policy?")
		ct.press("esc")
		ct.press("ctrl+s")
		ct.golden(name("relax-requested"), "Relaxing waits for another admin: request 1.")
		if p, _ := st.Policy(t.Context()); p.Approval != scopes.NewSet(scopes.GuardrailDeploy) {
			t.Errorf("relaxing took effect without a second admin: %+v", p)
		}
		if list, _ := st.Approvals(t.Context()); len(list) != 1 || list[0].Kind != store.ApprovalPolicy || list[0].RequestedBy != "alice" {
			t.Errorf("requests: %+v", list)
		}
	})
}

// TestKeyPolicyPageForViewers: a viewer sees the policy and why nothing
// can be changed; the focus never lands on a disabled button.
func TestKeyPolicyPageForViewers(t *testing.T) {
	forSizes(t, "policy", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedPolicy(t, st)
		ct := startConsole(t, st, store.Actor{Name: "vic", Role: store.Viewer, Origin: "test"}, w, h)
		ct.press("p")
		s := ct.golden(name("viewer"), "Every key")
		if !strings.Contains(s, "viewers cannot change the key policy") {
			t.Errorf("no reason beside the disabled buttons:\n%s", s)
		}
		ct.press("down", "space", "right", "ctrl+s")
		ct.waitFor("Every key")
		if p, _ := st.Policy(t.Context()); p.Revision != 1 {
			t.Errorf("a viewer changed the policy: %+v", p)
		}
		ct.walkFocus(name("viewer"))
	})
}

// TestApprovalsPage: another admin sees the request with what approving it
// does to the app's keys, approves it after a confirmation, and the grant
// is in force; the admin who asked and a local user see Approve disabled
// and why; a stale request can only be rejected.
func TestApprovalsPage(t *testing.T) {
	forSizes(t, "approvals", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedPolicy(t, st)
		a := askForGuardrails(t, st)

		for _, tt := range []struct {
			who   store.Actor
			shot  string
			why   string
			focus int // tabs from the rows to Approve, when it can be pressed
		}{
			{adaSSH, "own", "you asked: another admin approves", 0},
			{testAdmin, "local", "approve over SSH, not locally", 0},
			{store.Actor{Name: "vic", Role: store.Viewer, Origin: "test"}, "viewer", "viewers cannot approve or reject", 0},
		} {
			ct := startConsole(t, st, tt.who, w, h)
			ct.press("w")
			s := ct.golden(name(tt.shot), "Request 1")
			if !strings.Contains(s, tt.why) {
				t.Errorf("%s: Approve says no reason %q:\n%s", tt.shot, tt.why, s)
			}
			ct.walkFocus(name(tt.shot))
			ct.tm.Quit()
		}

		ct := startConsole(t, st, boSSH, w, h)
		ct.press("w")
		s := ct.golden(name("request"), "Request 1")
		for _, want := range []string{"grant guardrail:deploy", "Deploy Guardrails"} {
			if !strings.Contains(s, want) {
				t.Errorf("the request lacks %q:\n%s", want, s)
			}
		}
		ct.press("tab", "tab", "enter")
		ct.golden(name("confirm"), "Approve request 1?")
		ct.press("y")
		ct.golden(name("approved"), "Approved request 1 of ada")
		if app, _ := st.AppNamed(t.Context(), "Marketing"); !app.Scopes.Allows(scopes.GuardrailDeploy) || app.UpdatedBy != "bo" {
			t.Errorf("after the approval: %+v", app)
		}
		if a.ID != 1 {
			t.Errorf("request %d", a.ID)
		}

		// A stale request: Approve is disabled, the pane says what changed.
		app, _ := st.AppNamed(t.Context(), "Risk & Compliance")
		if _, err := st.SaveApp(t.Context(), adaSSH, app, app.Name, app.Scopes.With(scopes.GuardrailDeploy)); err == nil {
			t.Fatal("no request")
		}
		app, _ = st.AppNamed(t.Context(), "Risk & Compliance")
		if _, err := st.SaveApp(t.Context(), adaSSH, app, "Risk & Compliance EU", app.Scopes); err != nil {
			t.Fatal(err)
		}
		s = ct.golden(name("stale"), "the app was renamed since, by ada")
		if !strings.Contains(s, "stale: reject it") {
			t.Errorf("Approve does not say why it is disabled:\n%s", s)
		}
		ct.walkFocus(name("stale"))
	})
}

// TestKeyDialogUnderThePolicy: Create new API key offers only expiries the
// key policy allows the app, says why, checks a typed date against it, and
// takes an optional list of allowed addresses, refusing one that is not,
// and showing the list with the key.
func TestKeyDialogUnderThePolicy(t *testing.T) {
	forSizes(t, "keys", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedPolicy(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "down", "e") // Risk & Compliance, which holds model:deploy
		ct.waitFor("Keys change at once")
		ct.press("c")
		s := ct.golden(name("policy-expiry"), "Generate Key")
		if flat := strings.Join(strings.Fields(strings.ReplaceAll(s, "│", "")), " "); strings.Contains(s, "( ) Never") || strings.Contains(s, "90 days") ||
			!strings.Contains(s, "(•) 30 days") || !strings.Contains(flat, "keys of this app live 30 days at most") {
			t.Errorf("the expiries offered do not follow the policy:\n%s", s)
		}
		ct.typeText("office")
		ct.press("tab", "tab")
		ct.typeText("10.0.0.0/8, gateway.internal")
		ct.press("enter")
		s = ct.golden(name("allow-bad"), "Bad address list")
		if !strings.Contains(s, "gateway.internal") {
			t.Errorf("the refusal does not name the entry:\n%s", s)
		}
		for range len(", gateway.internal") {
			ct.press("backspace")
		}
		ct.press("enter")
		s = ct.golden(name("allow-shown"), "Works only from 10.0.0.0/8")
		keys, _ := st.Keys(t.Context(), must(st.AppNamed(t.Context(), "Risk & Compliance")).ID)
		var made store.Key
		for _, k := range keys {
			if k.Name == "office" {
				made = k
			}
		}
		if len(made.AllowFrom) != 1 || made.AllowFrom[0].String() != "10.0.0.0/8" || made.ExpiresAt.Sub(made.CreatedAt) != 30*day {
			t.Errorf("the key made: %+v\n%s", made, s)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestSaveWithASensitiveScope: ticking a scope the key policy makes wait
// asks first, saying it waits and the rest is saved; Save then saves the
// rest and says which request waits; and a scope whose maximum lifetime
// keys of the app outlive is refused before it is asked, naming them.
func TestSaveWithASensitiveScope(t *testing.T) {
	forSizes(t, "pending", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedPolicy(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.press("down", "e") // Marketing: workflow:export, model:export
		ct.waitFor("Keys change at once")
		ct.press("tab")
		for range 8 { // Deploy Guardrails, after the workflows and the models
			ct.press("down")
		}
		ct.press("space", "ctrl+s")
		s := ct.golden(name("confirm"), "Save scope changes?")
		if !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(s, "│", "")), " "), "waits for another admin's approval") {
			t.Errorf("the question does not say the grant waits:\n%s", s)
		}
		ct.press("y")
		ct.golden(name("saved"), "Saved; Deploy Guardrails waits for approval: request 1.")
		if app, _ := st.AppNamed(t.Context(), "Marketing"); app.Scopes.Allows(scopes.GuardrailDeploy) {
			t.Error("the grant is in force without a second admin")
		}

		// Deploy Model on Marketing: its never-expiring keys? It has none;
		// Customer Support's support-bot never expires.
		ct.press("up", "e")
		ct.waitFor("Keys change at once")
		ct.press("tab")
		for range 4 { // Deploy Model
			ct.press("down")
		}
		ct.press("space", "ctrl+s")
		s = ct.golden(name("outlived"), "Keys outlive the key policy")
		if !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(s, "│", "")), " "), "support-bot") {
			t.Errorf("the refusal does not name the key:\n%s", s)
		}
	})
}

// TestConsoleReadOnlyOnceTheDatabaseMovesOn: a console whose database is
// upgraded past its schema under it (a newer replica migrated the cluster)
// turns read-only at once and says why, whoever is acting.
func TestConsoleReadOnlyOnceTheDatabaseMovesOn(t *testing.T) {
	forSizes(t, "outdated", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		ct := startConsole(t, st, testAdmin, w, h)
		ct.waitFor("Customer Support")
		b := &store.Batch{}
		b.Put(store.TableMeta, []byte("schema"), []byte("apiscopes/5"))
		if _, err := st.Engine().Commit(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		s := ct.golden(name("list"), "Read-only: the database was upgraded")
		if w >= 80 && !strings.Contains(s, "read-only: upgrade apiscopes") {
			t.Errorf("the disabled buttons do not say why:\n%s", s)
		}
		ct.press("n")
		if s := ct.waitFor("Read-only"); strings.Contains(s, "Untitled app") {
			t.Error("a new app opened on a read-only console")
		}
		ct.press("p")
		if s := ct.waitFor("Every key"); !strings.Contains(s, "read-only: upgrade apiscopes") {
			t.Errorf("the key policy page does not say why it cannot change:\n%s", s)
		}
	})
}
