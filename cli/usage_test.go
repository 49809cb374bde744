package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// TestUsageCommand: after checks on two scopes of a four-scope app, usage
// lists all four with their last use, --unused-for names the other two,
// and --json gives one object per app and scope.
func TestUsageCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "apiscopes.db")
	st, err := bolt.OpenStore(db, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, _ := st.CreateApp(t.Context(), admin, "Risk & Compliance",
		scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport, scopes.WorkflowDeploy, scopes.WorkflowExport))
	key, _, _ := st.CreateKey(t.Context(), admin, app.ID, "prod")
	st.Verify(key, scopes.ModelDeploy)
	st.Verify(key, scopes.WorkflowDeploy)
	st.Verify(key, scopes.GuardrailDeploy)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	usage := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := run(append([]string{"usage", "--db", db}, args...), nil, &o, &e)
		return code, o.String(), e.String()
	}
	code, out, errOut := usage()
	if code != 0 || strings.Count(out, "Risk & Compliance") != 5 || !strings.Contains(out, "guardrail:deploy (not granted)") ||
		!strings.Contains(out, "never since") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = usage("--unused-for", "30d")
	if code != 0 || !strings.Contains(out, "workflow:export") || !strings.Contains(out, "model:export") ||
		strings.Contains(out, "model:deploy ") || !strings.Contains(out, "Tracking began") {
		t.Fatalf("--unused-for: exit %d:\n%s", code, out)
	}
	code, out, _ = usage("--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 5 {
		t.Fatalf("--json: exit %d:\n%s", code, out)
	}
	var first usageLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.App != "Risk & Compliance" || first.Since.IsZero() {
		t.Fatalf("--json line %q: %+v %v", lines[0], first, err)
	}
	if code, _, errOut := usage("--unused-for", "soon"); code != 2 || !strings.Contains(errOut, "90d") {
		t.Fatalf("bad window: exit %d %s", code, errOut)
	}
	var o, e bytes.Buffer
	if code := run([]string{"usage", "--db", filepath.Join(t.TempDir(), "none.db")}, nil, &o, &e); code != 2 {
		t.Fatalf("missing database: exit %d", code)
	}
}
