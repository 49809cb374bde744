package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/storetest"
)

// auditDB makes a database with a short history and returns its path and
// the text of the one key it created.
func auditDB(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin := store.Actor{Name: "amara", Role: store.Admin, Origin: "test"}
	app, err := st.CreateApp(t.Context(), admin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := st.CreateKey(t.Context(), admin, app.ID, "reports-prod")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveApp(t.Context(), admin, app, app.Name, scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	return path, text
}

func TestAuditCommand(t *testing.T) {
	path, keyText := auditDB(t)
	code, out, errs := runCmd(t, "--db", path, "audit")
	if code != 0 || errs != "" {
		t.Fatalf("audit = %d, %q", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "When ") || !strings.HasSuffix(strings.Fields(lines[1])[2], "UTC") ||
		!strings.Contains(lines[1], "changed scopes") || !strings.Contains(lines[1], "−Deploy Model") ||
		!strings.Contains(lines[2], "created API key") || !strings.Contains(lines[2], "Risk & Compliance › reports-prod") ||
		!strings.Contains(lines[3], "created app") {
		t.Errorf("audit printed:\n%s", out)
	}
	if strings.Contains(out, keyText) {
		t.Error("the audit log printed a key")
	}
}

func TestAuditJSONLines(t *testing.T) {
	path, keyText := auditDB(t)
	for _, args := range [][]string{{"audit", "--json", "--db", path}, {"--db", path, "audit"}} {
		t.Setenv("APISCOPES_JSON", "")
		if len(args) == 3 {
			t.Setenv("APISCOPES_JSON", "1") // the flag's environment variable
		}
		code, out, errs := runCmd(t, args...)
		if code != 0 || errs != "" {
			t.Fatalf("%v = %d, %q", args, code, errs)
		}
		var actions []store.Action
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var ev store.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
			}
			actions = append(actions, ev.Action)
		}
		want := []store.Action{store.ActionAppUpdate, store.ActionKeyCreate, store.ActionAppCreate}
		if len(actions) != 3 || actions[0] != want[0] || actions[1] != want[1] || actions[2] != want[2] {
			t.Errorf("%v printed actions %v, want %v", args, actions, want)
		}
		if strings.Contains(out, keyText) || !strings.Contains(out, `"app":"Risk & Compliance"`) {
			t.Errorf("%v printed:\n%s", args, out)
		}
	}
}

func TestAuditEmptyAndErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	code, _, errs := runCmd(t, "audit", "--db", path)
	if code != 1 || !strings.Contains(errs, "there is no database at "+path) {
		t.Errorf("audit of no database = %d, %q", code, errs)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("audit created a database")
	}
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errs := runCmd(t, "audit", "--db", path)
	if code != 0 || out != "" || !strings.Contains(errs, "is empty") {
		t.Errorf("empty audit = %d, %q, %q", code, out, errs)
	}
	code, _, errs = runCmd(t, "audit", "--frob")
	if code != 2 || !strings.Contains(errs, "unknown flag: --frob") {
		t.Errorf("bad flag = %d, %q", code, errs)
	}
	st, err = bolt.OpenStore(path, bolt.Options{}) // holds the file, with no socket beside it
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	code, _, errs = runCmd(t, "audit", "--db", path)
	if code != 1 || !strings.Contains(errs, path) || !strings.Contains(errs, "in use") {
		t.Errorf("held database = %d, %q", code, errs)
	}
}

// TestAuditWhileHeld: a console holding the database streams its trail.
func TestAuditWhileHeld(t *testing.T) {
	path, _ := auditDB(t)
	h, code, msg := openStore(path, io.Discard)
	if h == nil {
		t.Fatalf("%d %s", code, msg)
	}
	defer h.Close()
	code, out, errs := runCmd(t, "--db", path, "audit", "--json")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"action":"app.update"`) {
		t.Errorf("audit while held = %d, %q, %q", code, out, errs)
	}
}

// TestAuditVerify: audit --verify and check print the chain's head; an
// event altered in the file behind the store's back is named.
func TestAuditVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, _ := st.CreateApp(t.Context(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	st.CreateKey(t.Context(), admin, app.ID, "prod")
	st.Close()
	code, out, errs := runCmd(t, "audit", "--verify", "--db", path)
	if code != 0 || !strings.Contains(out, "is intact: event 2, sha256 ") {
		t.Fatalf("audit --verify = %d, %q, %q", code, out, errs)
	}
	code, out, _ = runCmd(t, "check", path)
	if code != 0 || !strings.Contains(out, "Audit trail: event 2, sha256 ") {
		t.Fatalf("check = %d, %q", code, out)
	}
	storetest.RewriteRaw(t, path, "audit", 1, func(v []byte) []byte {
		return []byte(strings.Replace(string(v), `"actor":"amara"`, `"actor":"mallory"`, 1))
	})
	code, _, errs = runCmd(t, "audit", "--verify", "--db", path)
	if code != 1 || !strings.Contains(errs, "tampered with at event 1") {
		t.Fatalf("tampered audit --verify = %d, %q", code, errs)
	}
}
