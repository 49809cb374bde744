package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// TestFourEyesOverSSH: two admins and a viewer over SSH, and the bypasses
// tried. Ada cannot switch four eyes off and grant alone: relaxing waits,
// the grant waits, and she approves neither, by her name on another key or
// her key under another name; the viewer approves nothing; Bo's approval
// puts the grant in force, and the audit trail names both. A request
// whose app changed since is stale, for Bo too. Local commands on the
// server's machine may ask and reject, never approve.
func TestFourEyesOverSSH(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	st, err := bolt.OpenStore(path, bolt.Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ada, adaLaptop, bo, vic := newPerson(t, "", "Ada"), newPerson(t, "", "ada"), newPerson(t, "", "Bo"), newPerson(t, "", "Vic")
	addr := sshServer(t, st, ada.line+adaLaptop.line+bo.line, vic.line)
	run := func(p person, want int, command string) (string, string) {
		t.Helper()
		code, out, errs := sshRun(t, addr, p, "", command)
		if code != want {
			t.Fatalf("%s: exit %d, want %d\n%s%s", command, code, want, out, errs)
		}
		return out, errs
	}
	run(ada, ExitOK, "app create Support --scope model:export")
	text, k, err := st.CreateKey(t.Context(), store.Actor{Name: "Ada", Role: store.Admin, Origin: "test"}, 1, "bot")
	if err != nil {
		t.Fatal(err)
	}
	run(ada, ExitOK, "policy set --approval guardrail:deploy")

	// Ada relaxes (a request), then grants alone (a request too).
	if out, _ := run(ada, ExitPending, "policy set --no-approval guardrail:deploy --json"); !strings.Contains(out, `"pending": 1`) {
		t.Errorf("relaxing: %s", out)
	}
	if out, _ := run(ada, ExitPending, "app scopes Support --add guardrail:deploy --json"); !strings.Contains(out, `"pending": 2`) {
		t.Errorf("granting: %s", out)
	}
	refused := func(step string) {
		t.Helper()
		if d, _ := st.Verify(text, scopes.GuardrailDeploy); d.Allowed {
			t.Fatalf("%s: the grant is in force", step)
		}
		if p, _ := st.Policy(t.Context()); p.Approval.IsEmpty() {
			t.Fatalf("%s: four eyes is off", step)
		}
	}
	refused("after Ada's requests")
	for _, id := range []string{"1", "2"} {
		for _, who := range []person{ada, adaLaptop} {
			if _, errs := run(who, ExitRefused, "approvals approve "+id+" --yes"); !strings.Contains(errs, "you made this request") {
				t.Errorf("Ada approving %s: %s", id, errs)
			}
		}
		if _, errs := run(vic, ExitRefused, "approvals approve "+id+" --yes"); !strings.Contains(errs, "viewer") {
			t.Errorf("Vic approving %s: %s", id, errs)
		}
	}
	refused("after Ada and Vic tried to approve")
	// A local user on the server's machine asks nothing of four eyes.
	if _, err := st.Approve(t.Context(), localActor(), 2); err == nil {
		t.Fatal("a local user approved")
	}

	// Bo approves the grant; the policy's relaxing he rejects.
	out, errs := run(bo, ExitOK, "approvals approve 2 --yes")
	if !strings.Contains(out, "Approved request 2 of Ada: grant guardrail:deploy") || !strings.Contains(errs, "bot ("+k.Hint+")") {
		t.Errorf("Bo's approval: %s%s", out, errs)
	}
	if d, _ := st.Verify(text, scopes.GuardrailDeploy); !d.Allowed {
		t.Errorf("after Bo's approval: %v", d)
	}
	run(bo, ExitOK, "approvals reject 1")
	if p, _ := st.Policy(t.Context()); p.Approval != scopes.NewSet(scopes.GuardrailDeploy) {
		t.Errorf("the policy after the rejection: %+v", p)
	}
	events, _ := st.Audit(t.Context())
	var approved store.Event
	for _, ev := range events {
		if ev.Action == store.ActionApprovalApprove {
			approved = ev
		}
	}
	if approved.Actor != "Bo" || approved.RequestedBy != "Ada" || approved.RequestedKey == "" ||
		!strings.HasPrefix(approved.Origin, "ssh ") || approved.RequestedKey == strings.Fields(approved.Origin)[2] {
		t.Errorf("the approval's event names %+v", approved)
	}

	// A stale request: Bo may only reject it.
	run(ada, ExitOK, "policy set --approval model:deploy")
	run(ada, ExitPending, "app scopes Support --add model:deploy")
	run(ada, ExitOK, "app rename Support Helpdesk")
	if _, errs := run(bo, ExitRefused, "approvals approve 3 --yes"); !strings.Contains(errs, "stale: the app was renamed since") {
		t.Errorf("approving a stale request: %s", errs)
	}
	out, _ = run(vic, ExitOK, "approvals list")
	if !strings.Contains(out, "stale: the app was renamed since, by Ada") {
		t.Errorf("the list: %s", out)
	}
	run(vic, ExitRefused, "approvals reject 3")
	run(bo, ExitOK, "approvals reject 3")
}
